#include "net/acceptor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/clock.h"
#include "net/address.h"
#include "net/slot_table.h"
#include "net/socket_event.h"
#include "net/socket_loop.h"

namespace skyhive::net {

namespace {
constexpr int kAcceptBatch = 16;
}  // namespace

void Acceptor::accept_ready(Slot& listener) {
    assert(loop_.on_loop_thread() && "Acceptor: socket thread only");
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
            pause(listener, err);
            return;
        }
        if (listener.accept_failing_since != 0) {
            uint64_t ms = (monotonic_ns() - listener.accept_failing_since) / 1'000'000;
            loop_.log("accept on " + listener.address + " (socket " + std::to_string(lid) +
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
                loop_.log("accept on " + listener.address + ": all " + std::to_string(kMaxSockets) +
                          " socket slots in use; " + std::to_string(slot_drops_) +
                          " connection(s) dropped, the last from " + peer.to_string());
                slot_drop_logged_ns_ = now;
                slot_drops_ = 0;
            }
            continue;
        }
        Slot& s = *slots_.slot(id);
        int on = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
        loop_.install(s, fd, SocketKind::tcp, listener.owner);
        s.address = peer.to_string();
        // The new socket stays paused (not in the epoll set) until its owner starts it.
        if (!loop_.deliver_to(listener.owner,
                              make_socket_event(SocketEventType::accepted, lid, id, s.address))) {
            loop_.release(s);
            loop_.release(listener);
            return;
        }
    }
}

void Acceptor::pause(Slot& listener, int err) {
    uint64_t now = monotonic_ns();
    if (listener.accept_failing_since == 0) {
        listener.accept_failing_since = now;
        loop_.log("accept on " + listener.address + " (socket " +
                  std::to_string(listener.id.load(std::memory_order_relaxed)) +
                  "): " + std::strerror(err) + "; pending connections wait, retrying every " +
                  std::to_string(kAcceptRetryNs / 1'000'000) + " ms");
    }
    listener.accept_paused = true;
    paused_.push_back({listener.id.load(std::memory_order_relaxed), now + kAcceptRetryNs});
    loop_.set_interest(listener);
}

void Acceptor::resume_due() {
    assert(loop_.on_loop_thread() && "Acceptor: socket thread only");
    uint64_t now = monotonic_ns();
    size_t kept = 0;
    for (const Paused& p : paused_) {
        if (p.retry_ns > now) {
            paused_[kept++] = p;
            continue;
        }
        if (Slot* s = slots_.live(p.id); s && s->accept_paused) {
            s->accept_paused = false;
            loop_.set_interest(*s);
        }
    }
    paused_.resize(kept);
}

int Acceptor::next_timeout_ms() const {
    assert(loop_.on_loop_thread() && "Acceptor: socket thread only");
    if (paused_.empty()) return -1;
    uint64_t first = paused_.front().retry_ns;
    for (const Paused& p : paused_)
        first = std::min(first, p.retry_ns);
    uint64_t now = monotonic_ns();
    return first <= now ? 0 : int((first - now + 999'999) / 1'000'000);
}

}  // namespace skyhive::net
