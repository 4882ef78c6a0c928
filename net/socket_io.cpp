// Socket thread I/O: reads become events for the owner, queued writes go out when the kernel
// takes them.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "net/socket_loop.h"

namespace skyhive::net {

namespace {
bool would_block(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

std::string failure(const char* what, const std::string& where, int err) {
    return std::string(what) + " " + where + ": " + std::strerror(err);
}
}  // namespace

void SocketLoop::on_event(int32_t id, uint32_t events) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    Slot* s = slots_.live(id);
    if (!s) return;  // closed earlier in this batch
    if (s->kind == SocketKind::listener) {
        acceptor_.accept_ready(*s);
        return;
    }
    if (s->state.load(std::memory_order_relaxed) == SlotState::connecting) {
        connector_.on_writable(*s);
        return;
    }
    // Errors and hang-ups surface through the write or the read that follows.
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (s->events & EPOLLOUT)) {
        write_ready(*s);
        if (slots_.live(id) != s) return;
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && (s->events & EPOLLIN)) {
        if (s->state.load(std::memory_order_relaxed) == SlotState::closing) {
            discard_input(*s);
        } else if (s->kind == SocketKind::udp) {
            read_datagram(*s);
        } else if (s->framer) {
            read_framed(*s);
        } else {
            read_stream(*s);
        }
    }
}

void SocketLoop::read_stream(Slot& s) {
    // Read straight into the event's payload, after room for its header: one allocation, no copy.
    uint32_t size = s.read_size;
    char* block = static_cast<char*>(std::malloc(kEventHeaderSize + size));
    if (!block) {
        std::fprintf(stderr, "socket server: out of memory for a %u byte read\n", size);
        std::abort();
    }
    ssize_t n = ::read(s.fd, block + kEventHeaderSize, size);
    if (n <= 0) {
        int err = errno;
        std::free(block);
        if (n == 0) {
            on_eof(s);
        } else if (!would_block(err)) {
            fail(s, SocketOp::read, err, failure("read", s.address, err));
        }
        return;
    }
    s.bytes_in += uint64_t(n);
    s.last_read_ns = round_ns_;
    // Grow after a full read, shrink when less than half was used: big transfers take few
    // reads, idle chatty sockets do not pin big buffers.
    if (uint32_t(n) == size) {
        if (size < kMaxRead) s.read_size = size * 2;
    } else if (size > kMinRead && uint32_t(n) * 2 < size) {
        s.read_size = size / 2;
    }
    write_event_header(block, SocketEventType::data, s.id.load(std::memory_order_relaxed));
    deliver(s, Payload::adopt(block, uint32_t(kEventHeaderSize + size_t(n))));
}

void SocketLoop::read_framed(Slot& s) {
    ssize_t n = ::read(s.fd, scratch_.get(), kScratchSize);
    if (n <= 0) {
        int err = errno;
        if (n == 0) {
            on_eof(s);
        } else if (!would_block(err)) {
            fail(s, SocketOp::read, err, failure("read", s.address, err));
        }
        return;
    }
    s.bytes_in += uint64_t(n);
    s.last_read_ns = round_ns_;
    Result<void> fed = s.framer->feed(scratch_.get(), size_t(n));
    if (!fed) {
        fail(s, SocketOp::frame, fed.error().code, fed.error().message);
        return;
    }
    uint32_t count = 0;
    Payload frames = s.framer->take(&count);
    if (count == 0 && frames.empty()) return;
    static_assert(Framer::kHeadroom == kEventHeaderSize);
    if (s.framer->leaves_headroom()) {  // the header's place is there, before the frames
        write_event_header(frames.data(), SocketEventType::frames,
                           s.id.load(std::memory_order_relaxed), int32_t(count));
        deliver(s, std::move(frames));
        return;
    }
    // Put the header in front of the framer's bytes: realloc usually grows in place, and the
    // move is one pass over data that is already in cache.
    uint32_t size = frames.size();
    char* block = static_cast<char*>(std::realloc(frames.release(), kEventHeaderSize + size));
    if (!block) {
        std::fprintf(stderr, "socket server: out of memory for a %u byte frame batch\n", size);
        std::abort();
    }
    std::memmove(block + kEventHeaderSize, block, size);
    write_event_header(block, SocketEventType::frames, s.id.load(std::memory_order_relaxed),
                       int32_t(count));
    deliver(s, Payload::adopt(block, uint32_t(kEventHeaderSize + size)));
}

void SocketLoop::read_datagram(Slot& s) {
    SocketAddress from;
    from.length = sizeof from.storage;
    ssize_t n = ::recvfrom(s.fd, scratch_.get(), kScratchSize, 0, from.get(), &from.length);
    if (n < 0) {
        // Nothing there, or an ICMP error left by an earlier sendto: neither ends a UDP socket.
        return;
    }
    UdpAddress addr = UdpAddress::from(from);
    std::string_view a = addr.bytes();
    Payload p = Payload::allocate(kEventHeaderSize + size_t(n) + a.size());
    write_event_header(p.data(), SocketEventType::udp, s.id.load(std::memory_order_relaxed),
                       int32_t(a.size()));
    std::memcpy(p.data() + kEventHeaderSize, scratch_.get(), size_t(n));
    std::memcpy(p.data() + kEventHeaderSize + n, a.data(), a.size());
    s.bytes_in += uint64_t(n);
    s.last_read_ns = round_ns_;
    deliver(s, std::move(p));
}

void SocketLoop::discard_input(Slot& s) {
    ssize_t n = ::read(s.fd, scratch_.get(), kScratchSize);
    if (n > 0 || (n < 0 && would_block(errno))) return;
    // EOF or an error: stop reading; a broken connection shows up on the next write.
    s.read_closed = true;
    set_interest(s);
}

void SocketLoop::on_eof(Slot& s) {
    s.read_closed = true;
    int32_t id = s.id.load(std::memory_order_relaxed);
    if (!deliver(
            s, make_socket_event(SocketEventType::closed, id, 0, {}, uint8_t(CloseReason::eof)))) {
        return;
    }
    set_interest(s);
}

FlushResult SocketLoop::flush_locked(Slot& s) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    uint64_t before = s.queue.bytes;
    FlushResult r = s.kind == SocketKind::udp
                        ? flush_datagrams(s.fd, s.queue)
                        : flush_stream(s.fd, s.kind == SocketKind::tcp, s.queue);
    buffered_.fetch_sub(before - s.queue.bytes, std::memory_order_relaxed);
    if (r.written) {
        s.bytes_out += r.written;
        s.last_write_ns = round_ns_;
    }
    return r;
}

bool SocketLoop::write_at_round_end(Slot& s, int32_t id, Payload& data, uint32_t offset,
                                    const UdpAddress* to) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    if (!in_round_ || to || s.in_pipe.load(std::memory_order_relaxed) != 0) return false;
    {
        std::lock_guard g(s.write_lock);
        if (s.id.load(std::memory_order_relaxed) != id ||
            s.state.load(std::memory_order_relaxed) != SlotState::open ||
            (s.kind != SocketKind::tcp && s.kind != SocketKind::stream) ||
            !(s.queue.empty() || s.round_write)) {
            return false;
        }
        auto* b = new WriteBuffer;
        b->data = std::move(data);
        b->offset = offset;
        buffered_.fetch_add(b->remaining(), std::memory_order_relaxed);
        s.queue.push(b, Priority::high);
    }
    if (!s.round_write) {
        s.round_write = true;
        round_writes_.push_back(id);
    }
    return true;
}

void SocketLoop::flush_round_writes() {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    // A flush can deliver an event (a warning, an error) whose inline handler writes or posts
    // commands again: those are taken in this same pass, as after any other event.
    for (size_t i = 0; i < round_writes_.size(); ++i) {
        Slot* s = slots_.live(round_writes_[i]);
        if (!s || !s->round_write) continue;  // released meanwhile, and the flag with it
        s->round_write = false;
        // Waiting for EPOLLOUT already: that flush takes these bytes too.
        if (!s->want_write) write_ready(*s);
        run_local_commands();
    }
    round_writes_.clear();
    in_round_ = false;
}

void SocketLoop::write_ready(Slot& s) {
    FlushResult r;
    uint64_t queued;
    {
        std::lock_guard g(s.write_lock);
        r = flush_locked(s);
        queued = s.queue.bytes;
    }
    after_write(s, r, queued);
}

void SocketLoop::after_write(Slot& s, const FlushResult& r, uint64_t queued) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    if (r.status == FlushStatus::failed) {
        fail(s, SocketOp::write, r.err, failure("write", s.address, r.err));
        return;
    }
    int32_t id = s.id.load(std::memory_order_relaxed);
    if (queued == 0) {
        s.want_write = false;
        if (s.warn_at > s.warn_mark) {
            s.warn_at = s.warn_mark;
            if (!deliver(s, make_socket_event(SocketEventType::warning, id, 0))) return;
        }
        if (s.state.load(std::memory_order_relaxed) == SlotState::closing) {
            // Everything went out: FIN now (even if the fd is shared), then let go.
            if (s.kind == SocketKind::tcp) ::shutdown(s.fd, SHUT_WR);
            release(s);
            return;
        }
    } else {
        s.want_write = true;
        if (queued >= s.warn_at) {
            while (s.warn_at <= queued)
                s.warn_at *= 2;
            int32_t kb = int32_t(std::min<uint64_t>(queued / 1024, INT32_MAX));
            if (!deliver(s, make_socket_event(SocketEventType::warning, id, kb))) return;
        }
    }
    set_interest(s);
}

}  // namespace skyhive::net
