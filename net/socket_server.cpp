// The SocketServer's any-thread side: commands into the pipe, and direct writes.
#include "net/socket_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <mutex>

#include "core/clock.h"
#include "core/deferred.h"
#include "net/resolver.h"
#include "net/socket_loop.h"

namespace skyhive::net {

namespace {
Error too_many(const std::string& what) {
    return Error{what + ": all " + std::to_string(kMaxSockets) + " socket slots are in use", 0};
}
Error not_running(const std::string& what) {
    return Error{what + ": the socket server is not running", 0};
}

// A send a worker put off until the end of its batch (see SocketServer::send).
struct PutOff {
    SocketServer* server;
    Slot* slot;
    int32_t id;
    Payload data;
    uint32_t offset;
};
// The sends this thread has put off, in the order made; and the list being flushed (kept to
// reuse its capacity).
thread_local std::vector<PutOff> tls_put_off;
thread_local std::vector<PutOff> tls_flushing;
thread_local size_t tls_put_off_bytes = 0;
// Past either bound the sends go out at once, before the batch ends.
constexpr size_t kPutOffSends = 64;
constexpr size_t kPutOffBytes = 64 * 1024;
}  // namespace

void SocketServer::flush_put_off() {
    tls_flushing.swap(tls_put_off);
    tls_put_off_bytes = 0;
    for (PutOff& p : tls_flushing) {
        // As the send would have gone at once: directly when it can, else through the pipe.
        if (!p.server->write_direct(*p.slot, p.id, p.data, p.offset, nullptr))
            p.server->submit(p.id, std::move(p.data), p.offset, nullptr, Priority::high, false);
    }
    tls_flushing.clear();
}

SocketServer::SocketServer(MessageSink& sink, SocketServerOptions options)
    : sink_(sink), options_(std::move(options)) {}

SocketServer::~SocketServer() {
    stop();
    // Commands a racing caller slipped in after stop() still own buffers and fds.
    if (loop_) loop_->close_all();
}

Result<void> SocketServer::start() {
    assert(!thread_.joinable() && !stopped_);
    if (options_.warning_bytes < 1024)
        return Error{"socket server: warning_bytes must be at least 1024, not " +
                         std::to_string(options_.warning_bytes),
                     0};
    if (auto r = pipe_.open(); !r) return r;
    resolver_ = std::make_unique<Resolver>([this](const Command& c) { pipe_.write(c); });
    loop_ = std::make_unique<SocketLoop>(slots_, pipe_, sink_, *resolver_, buffered_, options_.log,
                                         options_.warning_bytes, options_.spin_us,
                                         options_.orphan_grace_ms, options_.close_linger_ms);
    if (auto r = loop_->open(); !r) return r;
    running_.store(true, std::memory_order_release);
    thread_ = std::thread([this] { loop_->run(); });
    return {};
}

void SocketServer::stop() {
    deferred::flush();  // this thread's own put-off sends, while they can still go
    {
        std::unique_lock guard(query_lock_);
        if (!running_.exchange(false, std::memory_order_acq_rel)) return;
    }
    stopped_ = true;
    Command c;
    c.type = CommandType::exit;
    pipe_.write(c);
    thread_.join();
    resolver_->stop();
    loop_->close_all();
}

void SocketServer::post(const Command& c) {
    // Sends this thread put off go before any command it issues after them.
    deferred::flush();
    // The socket thread must never block on its own pipe: its own commands (from a handler it
    // runs inline) wait in the loop instead.
    if (loop_->on_loop_thread()) {
        loop_->post_local(c);
        return;
    }
    pipe_.write(c);
}

void SocketServer::command(CommandType type, int32_t id, uint32_t handle, int32_t arg, void* ptr) {
    Command c;
    c.type = type;
    c.id = id;
    c.handle = handle;
    c.arg = arg;
    c.ptr = ptr;
    Slot* s = slots_.slot(id);
    if (s && (type == CommandType::close || type == CommandType::shutdown)) {
        // Sends issued after this close must not write directly ahead of it (Slot::in_pipe).
        s->in_pipe.fetch_add(1, std::memory_order_relaxed);
    }
    if (!running() || !s) {
        SocketLoop::discard(c, slots_);
        return;
    }
    post(c);
}

Result<int32_t> SocketServer::adopt(CommandType type, Handle owner, int fd,
                                    const std::string& what) {
    if (!running()) {
        ::close(fd);
        return not_running(what);
    }
    int32_t id = slots_.reserve();
    if (id == 0) {
        ::close(fd);
        return too_many(what);
    }
    Command c;
    c.type = type;
    c.id = id;
    c.handle = owner.value;
    c.arg = fd;
    post(c);
    return id;
}

Result<BoundSocket> SocketServer::listen(Handle owner, std::string_view host, int port,
                                         int backlog) {
    if (host.empty()) host = "0.0.0.0";
    std::string what = "listen " + host_port(host, port);
    if (!running()) return not_running(what);
    auto addresses = resolve(host, port, SOCK_STREAM, Endpoint::local);
    if (!addresses) return addresses.error();
    const SocketAddress& a = addresses->front();
    int fd = ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error::from_errno(what);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a.get(), a.length) != 0 || ::listen(fd, backlog) != 0) {
        Error e = Error::from_errno(what);
        ::close(fd);
        return e;
    }
    int bound_port = local_address(fd).port();
    auto id = adopt(CommandType::listen, owner, fd, what);
    if (!id) return id.error();
    return BoundSocket{id.value(), bound_port};
}

Result<int32_t> SocketServer::connect(Handle owner, std::string_view host, int port) {
    std::string what = "connect " + host_port(host, port);
    if (!running()) return not_running(what);
    int32_t id = slots_.reserve();
    if (id == 0) return too_many(what);
    Command c;
    c.type = CommandType::connect;
    c.id = id;
    c.handle = owner.value;
    c.ptr = new ConnectRequest{std::string(host), port};
    post(c);
    return id;
}

Result<int32_t> SocketServer::bind(Handle owner, int fd) {
    std::string what = "bind fd " + std::to_string(fd);
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        return Error::from_errno(what);
    }
    return adopt(CommandType::bind, owner, fd, what);
}

Result<BoundSocket> SocketServer::udp_open(Handle owner, std::string_view host, int port) {
    if (host.empty()) host = "0.0.0.0";
    std::string what = "udp " + host_port(host, port);
    if (!running()) return not_running(what);
    auto addresses = resolve(host, port, SOCK_DGRAM, Endpoint::local);
    if (!addresses) return addresses.error();
    const SocketAddress& a = addresses->front();
    int fd = ::socket(a.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error::from_errno(what);
    if (::bind(fd, a.get(), a.length) != 0) {
        Error e = Error::from_errno(what);
        ::close(fd);
        return e;
    }
    int bound_port = local_address(fd).port();
    auto id = adopt(CommandType::udp_open, owner, fd, what);
    if (!id) return id.error();
    return BoundSocket{id.value(), bound_port};
}

void SocketServer::start(int32_t id, Handle owner) {
    command(CommandType::start, id, owner.value);
}

void SocketServer::pause(int32_t id) {
    command(CommandType::pause, id);
}
void SocketServer::close(int32_t id) {
    command(CommandType::close, id);
}
void SocketServer::shutdown(int32_t id) {
    command(CommandType::shutdown, id);
}
void SocketServer::close_if_owner(int32_t id, Handle owner) {
    command(CommandType::close, id, owner.value);
}

void SocketServer::close_read(int32_t id) {
    command(CommandType::close_read, id);
}

void SocketServer::set_warning_mark(int32_t id, uint32_t kb) {
    assert(kb >= 1 && kb <= uint32_t(INT32_MAX));
    command(CommandType::warning_mark, id, 0, int32_t(kb));
}

void SocketServer::set_nodelay(int32_t id, bool on) {
    command(CommandType::nodelay, id, 0, on ? 1 : 0);
}

void SocketServer::set_buffers(int32_t id, int bytes) {
    if (bytes > 0) command(CommandType::buffers, id, 0, bytes);
}

void SocketServer::set_keepalive(int32_t id, bool on) {
    command(CommandType::keepalive, id, 0, on ? 1 : 0);
}

void SocketServer::set_framer(int32_t id, std::unique_ptr<Framer> framer) {
    command(CommandType::framer, id, 0, 0, framer.release());
}

bool SocketServer::send(int32_t id, Payload data, uint32_t offset) {
    return submit(id, std::move(data), offset, nullptr, Priority::high, options_.batch_writes);
}

bool SocketServer::send_low(int32_t id, Payload data, uint32_t offset) {
    return submit(id, std::move(data), offset, nullptr, Priority::low, false);
}

bool SocketServer::send_to(int32_t id, const UdpAddress& to, Payload data, uint32_t offset) {
    if (!to.valid()) return false;
    return submit(id, std::move(data), offset, &to, Priority::high, false);
}

bool SocketServer::submit(int32_t id, Payload data, uint32_t offset, const UdpAddress* to,
                          Priority priority, bool may_put_off) {
    Slot* s = slots_.slot(id);
    if (!s || !running() || s->id.load(std::memory_order_acquire) != id) return false;
    SlotState state = s->state.load(std::memory_order_acquire);
    if (state == SlotState::closing || state == SlotState::free) return false;
    if (offset >= data.size()) return true;  // nothing to write
    if (priority == Priority::high) {
        if (may_put_off && loop_->on_loop_thread()) {
            if (loop_->write_at_round_end(*s, id, data, offset, to)) return true;
        } else if (may_put_off && !to && deferred::open()) {
            tls_put_off_bytes += data.size() - offset;
            tls_put_off.push_back(PutOff{this, s, id, std::move(data), offset});
            deferred::defer(&SocketServer::flush_put_off);
            if (tls_put_off.size() >= kPutOffSends || tls_put_off_bytes >= kPutOffBytes)
                deferred::flush();
            return true;
        }
        if (write_direct(*s, id, data, offset, to)) return true;
    }
    auto* b = new WriteBuffer;
    b->data = std::move(data);
    b->offset = offset;
    if (to) b->to = *to;
    // Counted before the command is written, so this thread's next send cannot write directly
    // past it (see Slot::in_pipe).
    s->in_pipe.fetch_add(1, std::memory_order_relaxed);
    Command c;
    c.type = priority == Priority::low ? CommandType::send_low : CommandType::send;
    c.id = id;
    c.ptr = b;
    post(c);
    return true;
}

bool SocketServer::write_direct(Slot& s, int32_t id, Payload& data, uint32_t offset,
                                const UdpAddress* to) {
    if (s.in_pipe.load(std::memory_order_relaxed) != 0) return false;
    if (!s.write_lock.try_lock()) return false;
    std::unique_lock lock(s.write_lock, std::adopt_lock);
    // Re-check under the lock: the socket thread sets up and tears down sockets holding it.
    if (s.id.load(std::memory_order_relaxed) != id ||
        s.state.load(std::memory_order_relaxed) != SlotState::open || !s.queue.empty() ||
        s.in_pipe.load(std::memory_order_relaxed) != 0) {
        return false;
    }
    const char* p = data.data() + offset;
    size_t len = data.size() - offset;
    ssize_t n;
    if (s.kind == SocketKind::udp) {
        if (!to) return false;  // the socket thread drops it
        SocketAddress a = to->to_socket_address();
        n = ::sendto(s.fd, p, len, MSG_NOSIGNAL, a.get(), a.length);
        // A full buffer queues the datagram; any other refusal drops it, as the queue would.
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
        if (n > 0) {
            s.bytes_out += uint64_t(n);
            s.last_write_ns = monotonic_ns();
        }
        return true;
    }
    if (to) return false;
    if (s.kind == SocketKind::tcp) {
        n = ::send(s.fd, p, len, MSG_NOSIGNAL);
    } else if (s.kind == SocketKind::stream) {
        n = ::write(s.fd, p, len);
    } else {
        return false;
    }
    if (n < 0) {
        // A real error is left to the socket thread, which meets it again and reports it.
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        n = 0;
    }
    if (n > 0) {
        s.bytes_out += uint64_t(n);
        s.last_write_ns = monotonic_ns();
    }
    if (size_t(n) == len) return true;
    auto* b = new WriteBuffer;
    b->data = std::move(data);
    b->offset = offset + uint32_t(n);
    buffered_.fetch_add(b->remaining(), std::memory_order_relaxed);
    s.queue.push(b, Priority::high);
    lock.unlock();
    // The queue is non-empty now, so later sends go through the pipe behind this command.
    Command c;
    c.type = CommandType::want_write;
    c.id = id;
    post(c);
    return true;
}

std::vector<SocketInfo> SocketServer::query(int32_t id) {
    if (!running()) return {};
    SnapshotRequest req;
    req.id = id;
    if (loop_->on_loop_thread()) {
        // A handler running on the socket thread: a command would wait for the thread that is
        // asking, so the slots are read right here, between two events.
        loop_->answer(req);
        return std::move(req.result);
    }
    Command c;
    c.type = CommandType::snapshot;
    c.ptr = &req;
    {
        std::shared_lock guard(query_lock_);
        if (!running()) return {};
        post(c);
    }
    req.wait();
    return std::move(req.result);
}

bool SocketServer::on_socket_thread() const {
    return running() && loop_->on_loop_thread();
}

std::optional<SocketInfo> SocketServer::info(int32_t id) {
    if (id <= 0) return std::nullopt;
    auto all = query(id);
    if (all.empty()) return std::nullopt;
    return std::move(all.front());
}

std::vector<SocketInfo> SocketServer::snapshot() {
    return query(0);
}

}  // namespace skyhive::net
