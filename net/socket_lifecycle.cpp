// Socket thread: a socket's life cycle around the I/O (setting up, watching, failing, releasing)
// and the delivery of its events.
#include <sys/epoll.h>

#include <unistd.h>
#include <cassert>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "net/socket_loop.h"

namespace skyhive::net {

void SocketLoop::install(Slot& s, int fd, SocketKind kind, Handle owner, SlotState state) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    {
        std::lock_guard g(s.write_lock);
        s.fd = fd;
        s.kind = kind;
        s.state.store(state, std::memory_order_release);
    }
    s.owner = owner;
    s.read_size = kMinRead;
    s.warn_mark = s.warn_at = first_warning_;
    orphans_.watch(s);  // paused until its owner starts it
}

bool SocketLoop::set_interest(Slot& s) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    uint32_t want = 0;
    SlotState state = s.state.load(std::memory_order_relaxed);
    if (s.fd < 0) {
        want = 0;
    } else if (state == SlotState::connecting) {
        want = EPOLLOUT;
    } else if (s.kind == SocketKind::listener) {
        if (s.reading && !s.accept_paused) want = EPOLLIN;
    } else {
        if (s.reading && !s.read_closed) want |= EPOLLIN;
        if (s.want_write) want |= EPOLLOUT;
    }
    if (want == s.events) return true;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = uint64_t(uint32_t(s.id.load(std::memory_order_relaxed)));
    int op = s.events == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (::epoll_ctl(epfd_, op, s.fd, &ev) != 0) {
        int err = errno;
        if (op == EPOLL_CTL_DEL) {
            s.events = 0;  // the fd is gone from the set anyway
            return true;
        }
        fail(s, SocketOp::poll, err, "watch " + s.address + ": " + std::strerror(err));
        return false;
    }
    s.events = want;
    return true;
}

void SocketLoop::unwatch(Slot& s) {
    if (s.events == 0) return;
    // Explicitly: a bound fd (stdin) may share its file description with others, and then
    // close() alone would leave it in the epoll set.
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s.fd, nullptr);
    s.events = 0;
}

void SocketLoop::release(Slot& s) {
    unwatch(s);
    int fd;
    uint64_t dropped;
    {
        std::lock_guard g(s.write_lock);
        s.id.store(0, std::memory_order_relaxed);
        fd = s.fd;
        s.fd = -1;
        s.kind = SocketKind::none;
        dropped = s.queue.clear();
        s.bytes_out = 0;
        s.last_write_ns = 0;
    }
    if (dropped) buffered_.fetch_sub(dropped, std::memory_order_relaxed);
    // No writer can be using fd: they check the id under the lock, and it is 0 now.
    if (fd >= 0) ::close(fd);
    s.owner = Handle();
    s.reading = s.read_closed = s.want_write = s.round_write = s.accept_paused = s.nodelay = false;
    s.sweep_listed = false;
    s.keepalive = true;
    s.accept_failing_since = 0;
    s.read_size = 0;
    s.warn_at = 0;
    s.bytes_in = 0;
    s.last_read_ns = 0;
    s.address.clear();
    s.framer.reset();
    s.pending.reset();
    slots_.release(s);
}

void SocketLoop::fail(Slot& s, SocketOp op, int err, std::string text) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    Handle owner = s.owner;
    int32_t id = s.id.load(std::memory_order_relaxed);
    release(s);
    deliver_to(owner, make_socket_event(SocketEventType::error, id, 0, text, uint8_t(op), err));
}

bool SocketLoop::deliver(Slot& s, Payload event) {
    if (deliver_to(s.owner, std::move(event))) return true;
    // Nobody is left to read what this socket produces.
    release(s);
    return false;
}

bool SocketLoop::deliver_to(Handle owner, Payload event) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    return sink_.deliver(owner, Message{Handle(), 0, MessageType::socket, std::move(event)});
}

void SocketLoop::log(const std::string& line) const {
    if (log_) {
        log_(line);
    } else {
        std::fprintf(stderr, "socket server: %s\n", line.c_str());
    }
}

}  // namespace skyhive::net
