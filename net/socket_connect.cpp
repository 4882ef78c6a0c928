// Socket thread: accepting on listeners (and surviving descriptor exhaustion) and outgoing
// connects (numeric addresses at once, host names through the resolver thread).
#include <netinet/in.h>

#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cassert>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/clock.h"
#include "net/socket_loop.h"

namespace skyhive::net {

namespace {
constexpr int kAcceptBatch = 16;

void set_flag(int fd, int level, int name, bool on) {
    int v = on ? 1 : 0;
    ::setsockopt(fd, level, name, &v, sizeof v);
}
}  // namespace

void SocketLoop::accept_ready(Slot& listener) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    int32_t lid = listener.id.load(std::memory_order_relaxed);
    for (int i = 0; i < kAcceptBatch; ++i) {
        SocketAddress peer;
        peer.length = sizeof peer.storage;
        int fd = ::accept4(listener.fd, peer.get(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return;
            // The peer gave up before we got to it: nothing wrong with the listener.
            if (err == ECONNABORTED || err == EPROTO || err == EPERM) continue;
            // EMFILE, ENFILE, ENOBUFS, ENOMEM...: the connection stays in the backlog and the
            // listener stays readable, so retrying now would spin. Wait, then try again.
            pause_accepts(listener, err);
            return;
        }
        if (listener.accept_failing_since != 0) {
            uint64_t ms = (monotonic_ns() - listener.accept_failing_since) / 1'000'000;
            log("accept on " + listener.address + " (socket " + std::to_string(lid) +
                ") works again after " + std::to_string(ms) + " ms");
            listener.accept_failing_since = 0;
        }
        int32_t id = slots_.reserve();
        if (id == 0) {
            // Closing at once drains the backlog instead of spinning on it.
            ::close(fd);
            ++slot_drops_;
            uint64_t now = monotonic_ns();
            if (now - slot_drop_logged_ns_ >= 1'000'000'000) {
                log("accept on " + listener.address + ": all " + std::to_string(kMaxSockets) +
                    " socket slots in use; " + std::to_string(slot_drops_) +
                    " connection(s) dropped, the last from " + peer.to_string());
                slot_drop_logged_ns_ = now;
                slot_drops_ = 0;
            }
            continue;
        }
        Slot& s = *slots_.slot(id);
        set_flag(fd, SOL_SOCKET, SO_KEEPALIVE, true);
        install(s, fd, SocketKind::tcp, listener.owner);
        s.address = peer.to_string();
        // The new socket stays paused (not in the epoll set) until its owner starts it.
        if (!deliver_to(listener.owner,
                        make_socket_event(SocketEventType::accepted, lid, id, s.address))) {
            release(s);
            release(listener);
            return;
        }
    }
}

void SocketLoop::pause_accepts(Slot& listener, int err) {
    uint64_t now = monotonic_ns();
    if (listener.accept_failing_since == 0) {
        listener.accept_failing_since = now;
        log("accept on " + listener.address + " (socket " +
            std::to_string(listener.id.load(std::memory_order_relaxed)) +
            "): " + std::strerror(err) + "; pending connections wait, retrying every " +
            std::to_string(kAcceptRetryNs / 1'000'000) + " ms");
    }
    listener.accept_paused = true;
    paused_accepts_.push_back({listener.id.load(std::memory_order_relaxed), now + kAcceptRetryNs});
    set_interest(listener);
}

void SocketLoop::resume_accepts() {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    uint64_t now = monotonic_ns();
    size_t kept = 0;
    for (const PausedAccept& p : paused_accepts_) {
        if (p.retry_ns > now) {
            paused_accepts_[kept++] = p;
            continue;
        }
        if (Slot* s = slots_.live(p.id); s && s->accept_paused) {
            s->accept_paused = false;
            set_interest(*s);
        }
    }
    paused_accepts_.resize(kept);
}

int SocketLoop::next_timeout_ms() const {
    if (paused_accepts_.empty()) return -1;
    uint64_t first = paused_accepts_.front().retry_ns;
    for (const PausedAccept& p : paused_accepts_)
        first = std::min(first, p.retry_ns);
    uint64_t now = monotonic_ns();
    return first <= now ? 0 : int((first - now + 999'999) / 1'000'000);
}

void SocketLoop::on_connect(const Command& c) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    std::unique_ptr<ConnectRequest> req(static_cast<ConnectRequest*>(c.ptr));
    Slot* s = slots_.live(c.id);
    if (!s) return;  // closed before the connect was processed
    {
        std::lock_guard g(s->write_lock);
        s->kind = SocketKind::tcp;
        s->state.store(SlotState::connecting, std::memory_order_relaxed);
    }
    s->owner = Handle(c.handle);
    s->read_size = kMinRead;
    s->warn_mark = s->warn_at = first_warning_;
    s->pending = std::make_unique<PendingConnect>();
    s->pending->target = host_port(req->host, req->port);
    s->address = s->pending->target;
    if (req->host.empty()) {
        fail(*s, SocketOp::connect, 0, "connect " + s->pending->target + ": no host given");
    } else if (is_numeric_host(req->host)) {
        auto addresses = resolve(req->host, req->port, SOCK_STREAM, false);
        if (!addresses) {
            fail(*s, SocketOp::connect, addresses.error().code, addresses.error().message);
            return;
        }
        s->pending->addresses = std::move(addresses.value());
        start_connect(*s);
    } else {
        resolver_.submit(c.id, std::move(req->host), req->port);
    }
}

void SocketLoop::on_resolved(const Command& c) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    std::unique_ptr<ResolveResult> r(static_cast<ResolveResult*>(c.ptr));
    Slot* s = slots_.live(c.id);
    if (!s || !s->pending || s->fd >= 0) return;  // closed while resolving
    if (r->addresses.empty()) {
        fail(*s, SocketOp::connect, r->err, r->error);
        return;
    }
    s->pending->addresses = std::move(r->addresses);
    start_connect(*s);
}

void SocketLoop::start_connect(Slot& s) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    PendingConnect& p = *s.pending;
    while (p.next < p.addresses.size()) {
        const SocketAddress& a = p.addresses[p.next++];
        int fd = ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            p.last_err = errno;
            continue;
        }
        set_flag(fd, SOL_SOCKET, SO_KEEPALIVE, s.keepalive);
        if (s.nodelay) set_flag(fd, IPPROTO_TCP, TCP_NODELAY, true);
        int rc = ::connect(fd, a.get(), a.length);
        if (rc == 0 || errno == EINPROGRESS) {
            {
                std::lock_guard g(s.write_lock);
                s.fd = fd;
            }
            if (rc == 0) {
                connected(s);
            } else {
                set_interest(s);  // connecting: EPOLLOUT says it finished
            }
            return;
        }
        p.last_err = errno;
        ::close(fd);
    }
    int err = p.last_err;
    fail(s, SocketOp::connect, err, "connect " + p.target + ": " + std::strerror(err));
}

void SocketLoop::finish_connect(Slot& s) {
    assert(on_loop_thread() && "SocketLoop: socket thread only");
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) {
        connected(s);
        return;
    }
    // This address failed; try the next one, if any, on a fresh socket.
    s.pending->last_err = err;
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s.fd, nullptr);
    s.events = 0;
    int fd;
    {
        std::lock_guard g(s.write_lock);
        fd = s.fd;
        s.fd = -1;
    }
    ::close(fd);
    start_connect(s);
}

void SocketLoop::connected(Slot& s) {
    s.pending.reset();
    SocketAddress peer = peer_address(s.fd);
    if (peer.length) s.address = peer.to_string();
    bool queued;
    {
        std::lock_guard g(s.write_lock);
        s.state.store(SlotState::open, std::memory_order_release);
        queued = !s.queue.empty();
    }
    s.want_write = queued;
    int32_t id = s.id.load(std::memory_order_relaxed);
    if (!set_interest(s)) return;
    deliver(s, make_socket_event(SocketEventType::connected, id, 0, s.address));
}

}  // namespace skyhive::net
