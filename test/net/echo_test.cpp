// Many concurrent connections through one echo service: every byte comes back, in order, on the
// connection that sent it. Once with the service on its own thread behind a test sink, once as a
// C++ service on a Node handling its events on the socket thread (Module::inline_socket_events).
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/node.h"
#include "core/service.h"
#include "net/socket_loop.h"
#include "net/socket_server.h"
#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;

constexpr int kConnections = 1000;
constexpr size_t kBytesEach = 16 * 1024;

struct Client {
    int fd = -1;
    size_t sent = 0;
    size_t received = 0;
};

// Raises RLIMIT_NOFILE for kConnections client and server sockets; false when the hard limit
// does not allow it (the test is skipped). A refused raise below the hard limit is a failure.
bool enough_descriptors() {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    const rlim_t need = 2 * kConnections + 64;
    if (lim.rlim_cur >= need) return true;
    if (lim.rlim_max < need) return false;
    rlimit raised{need, lim.rlim_max};
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0) << "raising RLIMIT_NOFILE to " << need;
    return getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur >= need;
}

// Connects `clients.size()` clients to port; each writes its own pattern in uneven pieces while
// reading the echo back, until every byte has come back. The sockets stay open.
void echo_through(int port, std::vector<Client>& clients) {
    const int connections = int(clients.size());
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < connections; ++i) {
        clients[i].fd = connect_local(port);
        ASSERT_GE(clients[i].fd, 0) << "connection " << i;
        set_nonblocking(clients[i].fd);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u32 = uint32_t(i);
        ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, clients[i].fd, &ev), 0);
    }

    // Each client writes its own pattern in uneven pieces while reading the echo back.
    int done = 0;
    char buf[8192];
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    std::vector<epoll_event> events(256);
    while (done < connections) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << done << " of " << connections << " connections finished";
        int n = epoll_wait(ep, events.data(), int(events.size()), 1000);
        for (int k = 0; k < n; ++k) {
            uint32_t i = events[k].data.u32;
            Client& c = clients[i];
            if ((events[k].events & EPOLLOUT) && c.sent < kBytesEach) {
                size_t piece =
                    std::min<size_t>(kBytesEach - c.sent, 100 + (i * 37 + c.sent) % 3000);
                fill_pattern(i, c.sent, buf, piece);
                ssize_t w = ::write(c.fd, buf, piece);
                if (w > 0) c.sent += size_t(w);
                if (c.sent == kBytesEach) {
                    epoll_event ev{};
                    ev.events = EPOLLIN;
                    ev.data.u32 = i;
                    epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
                }
            }
            if (events[k].events & EPOLLIN) {
                ssize_t r = ::read(c.fd, buf, sizeof buf);
                ASSERT_GT(r, 0) << "connection " << i << " closed early";
                ASSERT_EQ(check_pattern(i, c.received, buf, size_t(r)), size_t(r))
                    << "connection " << i << " corrupt at offset " << c.received;
                c.received += size_t(r);
                ASSERT_LE(c.received, c.sent);
                if (c.received == kBytesEach) {
                    ++done;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
                }
            }
        }
    }
    ::close(ep);
}

TEST(EchoTest, ThousandConcurrentConnectionsEchoEveryByte) {
    if (!enough_descriptors()) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low";

    EventSink sink;
    SocketServer server(sink);
    ASSERT_TRUE(server.start().ok());
    const Handle svc{1};
    auto l = server.listen(svc, "127.0.0.1", 0, 1024);
    ASSERT_TRUE(l.ok()) << l.error().message;
    EchoService echo(server, sink, svc);
    server.start(l->id);

    std::vector<Client> clients(kConnections);
    ASSERT_NO_FATAL_FAILURE(echo_through(l->port, clients));
    EXPECT_EQ(echo.accepted(), size_t(kConnections));
    EXPECT_EQ(server.socket_count(), uint32_t(kConnections + 1));

    // Clients leave; the echo service closes each socket on EOF: only the listener remains.
    for (Client& c : clients)
        ::close(c.fd);
    ASSERT_TRUE(wait_until([&] { return server.socket_count() == 1; })) << server.socket_count();
    EXPECT_EQ(server.buffered_bytes(), 0u);
}

// The echo of bench/net/echo_bench.cpp as a C++ service on a Node, opted in to handling its socket
// events on the socket thread. It checks, once per accepted socket, that it runs there and that
// info() answers there too (it cannot wait for a command to its own thread). Its commands
// (start, close) are issued on the socket thread itself. With After::close or After::shutdown it
// closes each socket that way right after echoing its first bytes, in the same handler.
enum class After { nothing, close, shutdown };

// A service that listens on a loopback port of its own (published in `port`) and handles its
// socket events on the socket thread when idle. Thread: the service's.
class InlineListener : public Module {
  public:
    InlineListener(SocketServer& server, std::atomic<int>& port) : server_(server), port_(port) {}

    bool inline_socket_events() const override { return true; }

    bool init(Service& self, std::string_view) override {
        auto l = server_.listen(self.handle(), "127.0.0.1", 0, 1024);
        if (!l) return false;
        server_.start(l->id);
        port_.store(l->port);
        return true;
    }

  protected:
    SocketServer& server_;
    std::atomic<int>& port_;
};

class InlineEcho : public InlineListener {
  public:
    InlineEcho(SocketServer& server, std::atomic<int>& port, std::atomic<int>& inline_accepts,
               After after)
        : InlineListener(server, port), inline_accepts_(inline_accepts), after_(after) {}

    void on_message(Service&, Message& msg) override {
        if (msg.type != MessageType::socket) return;
        SocketEvent e = event_header(msg.payload);
        switch (e.type) {
            case SocketEventType::accepted:
                if (server_.on_socket_thread() && server_.info(e.ud)) inline_accepts_++;
                server_.start(e.ud);
                break;
            case SocketEventType::data:
                server_.send(e.id, std::move(msg.payload), uint32_t(kEventHeaderSize));
                if (after_ == After::close) server_.close(e.id);
                if (after_ == After::shutdown) server_.shutdown(e.id);
                break;
            case SocketEventType::closed:
                if (e.op == uint8_t(CloseReason::eof)) server_.close(e.id);
                break;
            default:
                break;
        }
    }

  private:
    std::atomic<int>& inline_accepts_;
    const After after_;
};

// A Node with the inline echo service on a socket server. Thread: the test's.
struct InlineEchoNode {
    explicit InlineEchoNode(After after = After::nothing)
        : node(quiet_node_options()), server(node) {
        node.modules().add("echo", [this, after] {
            return std::make_unique<InlineEcho>(server, port, inline_accepts, after);
        });
    }
    ~InlineEchoNode() { node.shutdown(); }
    void start() { start_node_and_server(node, server, "echo"); }

    Node node;
    SocketServer server;
    std::atomic<int> port{0}, inline_accepts{0};
};

TEST(EchoTest, ThousandConnectionsThroughANodeServiceRunningOnTheSocketThread) {
    if (!enough_descriptors()) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low";
    InlineEchoNode n;
    ASSERT_NO_FATAL_FAILURE(n.start());

    std::vector<Client> clients(kConnections);
    ASSERT_NO_FATAL_FAILURE(echo_through(n.port.load(), clients));
    // Only the socket thread sends to the service, and it finds it idle every time.
    EXPECT_EQ(n.inline_accepts.load(), kConnections);
    EXPECT_EQ(n.server.socket_count(), uint32_t(kConnections + 1));

    for (Client& c : clients)
        ::close(c.fd);
    ASSERT_TRUE(wait_until([&] { return n.server.socket_count() == 1; }))
        << n.server.socket_count();
    EXPECT_EQ(n.server.buffered_bytes(), 0u);
}

TEST(EchoTest, InlineServiceBehindAReaderThatLagsLosesNothing) {
    // The client writes 16 MB before reading anything back: the service's direct writes fill the
    // socket, the rest queues through commands the socket thread posts to itself, and every byte
    // still comes back in order.
    constexpr size_t kTotal = 16u << 20;
    InlineEchoNode n;
    ASSERT_NO_FATAL_FAILURE(n.start());
    int fd = connect_local(n.port.load());
    ASSERT_GE(fd, 0);
    std::thread writer([fd] {
        std::vector<char> chunk(64 * 1024);
        for (size_t off = 0; off < kTotal; off += chunk.size()) {
            fill_pattern(9, off, chunk.data(), chunk.size());
            if (!write_all(fd, chunk.data(), chunk.size())) return;
        }
    });
    // Let the echo pile up in the server before reading it.
    ASSERT_TRUE(wait_until([&] { return n.server.buffered_bytes() > (1u << 20); }));
    std::vector<char> in(256 * 1024);
    size_t got = 0;
    while (got < kTotal) {
        size_t want = std::min(in.size(), kTotal - got);
        ASSERT_TRUE(read_exact(fd, in.data(), want)) << "at " << got;
        ASSERT_EQ(check_pattern(9, got, in.data(), want), want) << "corrupt after " << got;
        got += want;
    }
    writer.join();
    ::close(fd);
    ASSERT_TRUE(wait_until([&] { return n.server.socket_count() == 1; }));
    EXPECT_EQ(n.server.buffered_bytes(), 0u);
}

// The socket thread writes what its handlers send once per epoll round. A handler that answers
// and closes (or shuts down) at once must still get its answer out, then the FIN: many clients
// asking together put several such answers and closes in one round.
void replies_arrive_before(After after) {
    constexpr int kClients = 200;
    // What the first read of a socket takes: echoed whole before the close.
    constexpr size_t kRequest = SocketLoop::kMinRead;
    InlineEchoNode n(after);
    ASSERT_NO_FATAL_FAILURE(n.start());
    std::vector<int> fds;
    for (int i = 0; i < kClients; ++i) {
        fds.push_back(connect_local(n.port.load()));
        ASSERT_GE(fds.back(), 0) << "connection " << i;
    }
    char buf[kRequest];
    for (int i = 0; i < kClients; ++i) {
        fill_pattern(uint64_t(i), 0, buf, kRequest);
        ASSERT_TRUE(write_all(fds[size_t(i)], buf, kRequest)) << "connection " << i;
    }
    for (int i = 0; i < kClients; ++i) {
        std::string got;
        read_to_eof(fds[size_t(i)], &got);
        ASSERT_EQ(got.size(), kRequest) << "connection " << i;
        EXPECT_EQ(check_pattern(uint64_t(i), 0, got.data(), got.size()), kRequest)
            << "connection " << i;
        ::close(fds[size_t(i)]);
    }
    ASSERT_TRUE(wait_until([&] { return n.server.socket_count() == 1; }))
        << n.server.socket_count();
    EXPECT_EQ(n.server.buffered_bytes(), 0u);
}

TEST(EchoTest, InlineRepliesQueuedForTheRoundsEndGoOutBeforeTheCloseThatFollows) {
    replies_arrive_before(After::close);
}

TEST(EchoTest, InlineRepliesQueuedForTheRoundsEndGoOutBeforeTheShutdownThatFollows) {
    // A shutdown drops what is queued, but not what a direct write would already have handed
    // to the kernel: a reply sent just before it (a handshake's refusal) still arrives.
    replies_arrive_before(After::shutdown);
}

// An inline service that, on its first data event, queues "x" for the round's end, then lets the
// test thread send "a" to the same socket (which must take the pipe: "x" is queued) and, once
// it has, sends "b" itself. "a" was sent before "b" in every sense: the peer must read "xab".
class PipeThenLocal : public InlineListener {
  public:
    PipeThenLocal(SocketServer& server, std::atomic<int>& port, std::atomic<int32_t>& id,
                  std::atomic<bool>& sent)
        : InlineListener(server, port), id_(id), sent_(sent) {}

    void on_message(Service&, Message& msg) override {
        if (msg.type != MessageType::socket) return;
        SocketEvent e = event_header(msg.payload);
        if (e.type == SocketEventType::accepted) server_.start(e.ud);
        if (e.type != SocketEventType::data || !server_.on_socket_thread()) return;
        server_.send(e.id, Payload::copy("x"));
        id_.store(e.id);
        wait_until([&] { return sent_.load(); });
        server_.send(e.id, Payload::copy("b"));
    }

  private:
    std::atomic<int32_t>& id_;
    std::atomic<bool>& sent_;
};

TEST(EchoTest, AnInlineHandlersCommandRunsAfterTheCommandsAlreadyInThePipe) {
    // The handler's "b" cannot be written at the round's end ("a" is in the pipe ahead of it), so
    // it becomes a command the socket thread posts to itself. That command used to run before
    // the pipe was read: a service's Redis command issued on a worker and the next one issued
    // inline then reached the server swapped, and each coroutine got the other's reply.
    Node node(quiet_node_options());
    SocketServer server(node);
    std::atomic<int> port{0};
    std::atomic<int32_t> id{0};
    std::atomic<bool> sent{false};
    node.modules().add("probe",
                       [&] { return std::make_unique<PipeThenLocal>(server, port, id, sent); });
    ASSERT_NO_FATAL_FAILURE(start_node_and_server(node, server, "probe"));
    int fd = connect_local(port.load());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(write_all(fd, "go", 2));
    ASSERT_TRUE(wait_until([&] { return id.load() != 0; }));
    EXPECT_TRUE(server.send(id.load(), Payload::copy("a")));
    sent.store(true);
    char got[4] = {};
    ASSERT_TRUE(read_exact(fd, got, 3));
    EXPECT_STREQ(got, "xab");
    ::close(fd);
    node.shutdown();
}

// CPU time (ns) of this process's thread named "socket" so far (its scheduler statistics), or
// -1 when there is none or the kernel does not keep them.
int64_t socket_thread_cpu_ns() {
    const std::filesystem::path tasks = "/proc/self/task";
    for (const auto& entry : std::filesystem::directory_iterator(tasks)) {
        std::ifstream comm(entry.path() / "comm");
        std::string name;
        if (!std::getline(comm, name) || name != "socket") continue;
        std::ifstream stat(entry.path() / "schedstat");
        int64_t ns = -1;
        if (stat >> ns) return ns;
    }
    return -1;
}

TEST(EchoTest, ASocketThreadThatSpinsEchoesEverythingAndStopsSpinningWhenIdle) {
    // With spin_us the thread polls for up to 5 ms after each round that handled something; once
    // the traffic stops it must block again: over 300 ms of quiet it may spend one spin, not
    // the whole time.
    EventSink sink;
    SocketServerOptions options;
    options.spin_us = 5000;
    SocketServer server(sink, std::move(options));
    ASSERT_TRUE(server.start().ok());
    const Handle svc{1};
    auto l = server.listen(svc, "127.0.0.1", 0, 64);
    ASSERT_TRUE(l.ok()) << l.error().message;
    EchoService echo(server, sink, svc);
    server.start(l->id);

    std::vector<Client> clients(20);
    ASSERT_NO_FATAL_FAILURE(echo_through(l->port, clients));
    const int64_t busy = socket_thread_cpu_ns();
    if (busy < 0) GTEST_SKIP() << "no /proc/self/task/*/schedstat for the socket thread";
    std::this_thread::sleep_for(300ms);
    const int64_t idle = socket_thread_cpu_ns() - busy;
    EXPECT_LT(idle, 60'000'000) << "ns on a CPU during 300 ms without traffic";
    for (Client& c : clients)
        ::close(c.fd);
    ASSERT_TRUE(wait_until([&] { return server.socket_count() == 1; })) << server.socket_count();
}

}  // namespace
}  // namespace skyhive::net
