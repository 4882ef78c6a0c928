#include "net/connector.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "net/address.h"
#include "net/command.h"
#include "net/resolver.h"
#include "net/slot_table.h"
#include "net/socket_event.h"
#include "net/socket_loop.h"

namespace skyhive::net {

namespace {
void set_option(int fd, int level, int name, int value) {
    ::setsockopt(fd, level, name, &value, sizeof value);
}
}  // namespace

void Connector::on_connect(const Command& c) {
    assert(loop_.on_loop_thread() && "Connector: socket thread only");
    std::unique_ptr<ConnectRequest> req(static_cast<ConnectRequest*>(c.ptr));
    Slot* s = slots_.live(c.id);
    if (!s) return;  // closed before the connect was processed
    loop_.install(*s, -1, SocketKind::tcp, Handle(c.handle), SlotState::connecting);
    s->pending = std::make_unique<PendingConnect>();
    s->pending->target = host_port(req->host, req->port);
    s->address = s->pending->target;
    if (req->host.empty()) {
        loop_.fail(*s, SocketOp::connect, 0, "connect " + s->pending->target + ": no host given");
    } else if (is_numeric_host(req->host)) {
        auto addresses = resolve(req->host, req->port, SOCK_STREAM, Endpoint::remote);
        if (!addresses) {
            loop_.fail(*s, SocketOp::connect, addresses.error().code, addresses.error().message);
            return;
        }
        s->pending->addresses = std::move(addresses.value());
        try_next(*s);
    } else {
        resolver_.submit(c.id, std::move(req->host), req->port);
    }
}

void Connector::on_resolved(const Command& c) {
    assert(loop_.on_loop_thread() && "Connector: socket thread only");
    std::unique_ptr<ResolveResult> r(static_cast<ResolveResult*>(c.ptr));
    Slot* s = slots_.live(c.id);
    if (!s || !s->pending || s->fd >= 0) return;  // closed while resolving
    if (r->addresses.empty()) {
        loop_.fail(*s, SocketOp::connect, r->err, r->error);
        return;
    }
    s->pending->addresses = std::move(r->addresses);
    try_next(*s);
}

void Connector::try_next(Slot& s) {
    assert(loop_.on_loop_thread() && "Connector: socket thread only");
    PendingConnect& p = *s.pending;
    while (p.next < p.addresses.size()) {
        const SocketAddress& a = p.addresses[p.next++];
        int fd = ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            p.last_err = errno;
            continue;
        }
        set_option(fd, SOL_SOCKET, SO_KEEPALIVE, s.keepalive ? 1 : 0);
        if (s.nodelay) set_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
        int rc = ::connect(fd, a.get(), a.length);
        if (rc == 0 || errno == EINPROGRESS) {
            {
                std::lock_guard g(s.write_lock);
                s.fd = fd;
            }
            if (rc == 0) {
                connected(s);
            } else {
                loop_.set_interest(s);  // connecting: EPOLLOUT says it finished
            }
            return;
        }
        p.last_err = errno;
        ::close(fd);
    }
    int err = p.last_err;
    loop_.fail(s, SocketOp::connect, err, "connect " + p.target + ": " + std::strerror(err));
}

void Connector::on_writable(Slot& s) {
    assert(loop_.on_loop_thread() && "Connector: socket thread only");
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) {
        connected(s);
        return;
    }
    // This address failed; try the next one, if any, on a fresh socket.
    s.pending->last_err = err;
    loop_.unwatch(s);
    int fd;
    {
        std::lock_guard g(s.write_lock);
        fd = s.fd;
        s.fd = -1;
    }
    ::close(fd);
    try_next(s);
}

void Connector::connected(Slot& s) {
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
    if (!loop_.set_interest(s)) return;
    loop_.deliver(s, make_socket_event(SocketEventType::connected, id, 0, s.address));
}

}  // namespace skyhive::net
