#include "net_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skyhive::net::test {

namespace {
int remaining_ms(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : int(left.count());
}
}  // namespace

bool EventSink::deliver(Handle dest, Message msg) {
    {
        std::lock_guard g(mutex_);
        if (dead_.count(dest.value)) return false;
        queues_[dest.value].push_back(std::move(msg));
        ++delivered_;
    }
    cv_.notify_all();
    return true;
}

bool EventSink::alive(Handle h) const {
    std::lock_guard g(mutex_);
    return dead_.count(h.value) == 0;
}

std::optional<Event> EventSink::next(Handle h, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mutex_);
    auto& q = queues_[h.value];
    if (!cv_.wait_for(lk, timeout, [&] { return !q.empty(); })) return std::nullopt;
    Message m = std::move(q.front());
    q.pop_front();
    lk.unlock();
    EXPECT_EQ(m.type, MessageType::socket);
    EXPECT_GE(m.payload.size(), kEventHeaderSize);
    Event e;
    e.header = event_header(m.payload);
    e.bytes = std::string(event_bytes(m.payload));
    e.payload = std::move(m.payload);
    return e;
}

std::optional<Event> EventSink::next_of(Handle h, SocketEventType type,
                                        std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto e = next(h, std::chrono::milliseconds(remaining_ms(deadline)));
        if (!e || e->type() == type) return e;
    }
}

bool EventSink::none_within(Handle h, std::chrono::milliseconds quiet) {
    std::unique_lock lk(mutex_);
    auto& q = queues_[h.value];
    return !cv_.wait_for(lk, quiet, [&] { return !q.empty(); });
}

size_t EventSink::queued(Handle h) const {
    std::lock_guard g(mutex_);
    auto it = queues_.find(h.value);
    return it == queues_.end() ? 0 : it->second.size();
}

void EventSink::kill(Handle h) {
    std::lock_guard g(mutex_);
    dead_.insert(h.value);
    queues_.erase(h.value);
}

size_t EventSink::delivered() const {
    std::lock_guard g(mutex_);
    return delivered_;
}

EchoService::EchoService(SocketServer& server, EventSink& sink, Handle self)
    : server_(server), sink_(sink), self_(self), thread_([this] { run(); }) {}

EchoService::~EchoService() {
    stop_ = true;
    thread_.join();
}

void EchoService::run() {
    while (!stop_) {
        auto e = sink_.next(self_, 20ms);
        if (!e) continue;
        switch (e->type()) {
            case SocketEventType::accepted:
                accepted_++;
                server_.start(e->ud());
                break;
            case SocketEventType::data:
                server_.send(e->id(), std::move(e->payload), uint32_t(kEventHeaderSize));
                break;
            case SocketEventType::closed:
                if (e->header.op == uint8_t(CloseReason::eof)) server_.close(e->id());
                break;
            default:
                break;
        }
    }
}

int connect_local(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

bool write_all(int fd, const void* data, size_t n) {
    auto* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= size_t(w);
    }
    return true;
}

bool read_exact(int fd, void* out, size_t n, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto* p = static_cast<char*>(out);
    while (n > 0) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, remaining_ms(deadline)) <= 0) return false;
        ssize_t r = ::recv(fd, p, n, MSG_DONTWAIT);
        if (r == 0) return false;
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return false;
        }
        p += r;
        n -= size_t(r);
    }
    return true;
}

size_t read_to_eof(int fd, std::string* out, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t total = 0;
    char buf[65536];
    for (;;) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, remaining_ms(deadline)) <= 0) return total;
        ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0) return total;
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return total;
        }
        total += size_t(r);
        if (out) out->append(buf, size_t(r));
    }
}

void set_nonblocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void set_reset_on_close(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void fill_pattern(uint64_t seed, uint64_t offset, char* out, size_t n) {
    for (size_t i = 0; i < n; ++i)
        out[i] = char(pattern(seed, offset + i));
}

size_t check_pattern(uint64_t seed, uint64_t offset, const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (uint8_t(data[i]) != pattern(seed, offset + i)) return i;
    }
    return n;
}

NodeOptions quiet_node_options() {
    NodeOptions o;
    o.threads = 2;
    o.log_level = LogLevel::error;
    return o;
}

void start_node_and_server(Node& node, SocketServer& server, const char* module, Handle* launched) {
    ASSERT_TRUE(node.start().ok());
    ASSERT_TRUE(server.start().ok());
    node.on_shutdown([&server] { server.stop(); });
    auto h = node.launch(module, "");
    ASSERT_TRUE(h.ok()) << h.error().message;
    if (launched) *launched = h.value();
}

}  // namespace skyhive::net::test
