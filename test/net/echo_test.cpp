// Many concurrent connections through one echo service: every byte comes back, in order, on the
// connection that sent it.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

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

TEST(EchoTest, ThousandConcurrentConnectionsEchoEveryByte) {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    const rlim_t need = 2 * kConnections + 64;
    if (lim.rlim_cur < need) {
        if (lim.rlim_max < need) GTEST_SKIP() << "RLIMIT_NOFILE hard limit below " << need;
        rlimit raised{need, lim.rlim_max};
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0);
    }

    EventSink sink;
    SocketServer server(sink);
    ASSERT_TRUE(server.start().ok());
    const Handle svc{1};
    auto l = server.listen(svc, "127.0.0.1", 0, 1024);
    ASSERT_TRUE(l.ok()) << l.error().message;
    EchoService echo(server, sink, svc);
    server.start(l->id);

    std::vector<Client> clients(kConnections);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < kConnections; ++i) {
        clients[i].fd = connect_local(l->port);
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
    while (done < kConnections) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << done << " of " << kConnections << " connections finished";
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
    EXPECT_EQ(echo.accepted(), size_t(kConnections));
    EXPECT_EQ(server.socket_count(), uint32_t(kConnections + 1));

    // Clients leave; the echo service closes each socket on EOF: only the listener remains.
    for (Client& c : clients)
        ::close(c.fd);
    ASSERT_TRUE(wait_until([&] { return server.socket_count() == 1; })) << server.socket_count();
    EXPECT_EQ(server.buffered_bytes(), 0u);
    ::close(ep);
}

}  // namespace
}  // namespace skyhive::net
