// Outgoing connects that fail: the owner gets an error event naming the target and the errno.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "net/socket_server.h"
#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;

class ConnectTest : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(server.start().ok()); }
    EventSink sink;
    SocketServer server{sink};
    const Handle svc{1};
};

TEST_F(ConnectTest, RefusedConnectIsAnErrorEventWithTheErrnoText) {
    int port = closed_port();
    auto id = server.connect(svc, "127.0.0.1", port);
    ASSERT_TRUE(id.ok());
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::error);
    EXPECT_EQ(e->id(), id.value());
    EXPECT_EQ(e->header.op, uint8_t(SocketOp::connect));
    EXPECT_EQ(e->header.err, ECONNREFUSED);
    EXPECT_EQ(e->bytes,
              "connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(ECONNREFUSED));
    EXPECT_EQ(server.socket_count(), 0u);
    EXPECT_FALSE(server.send(id.value(), Payload::copy("x")));
}

TEST_F(ConnectTest, ConnectToAClosedListenerIsRefused) {
    const Handle owner{2};
    auto l = server.listen(owner, "127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    server.start(l->id);
    server.close(l->id);
    auto closed = sink.next(owner);
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->type(), SocketEventType::closed);

    auto id = server.connect(svc, "127.0.0.1", l->port);
    ASSERT_TRUE(id.ok());
    server.send(id.value(), Payload::copy("queued, then dropped"));
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::error);
    EXPECT_EQ(e->header.err, ECONNREFUSED);
    EXPECT_NE(e->bytes.find(std::to_string(l->port)), std::string::npos) << e->bytes;
    EXPECT_EQ(server.buffered_bytes(), 0u);
}

TEST_F(ConnectTest, HostNameThatIsRefusedEverywhereNamesTheHost) {
    // localhost resolves (off the socket thread) to one or two addresses; all refuse.
    int port = closed_port();
    auto id = server.connect(svc, "localhost", port);
    ASSERT_TRUE(id.ok());
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::error);
    EXPECT_EQ(e->header.op, uint8_t(SocketOp::connect));
    EXPECT_EQ(e->header.err, ECONNREFUSED);
    EXPECT_EQ(e->bytes.rfind("connect localhost:" + std::to_string(port) + ": ", 0), 0u)
        << e->bytes;
}

TEST_F(ConnectTest, BadAddressesFailWithoutASystemCall) {
    auto id = server.connect(svc, "", 80);
    ASSERT_TRUE(id.ok());
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::error);
    EXPECT_EQ(e->bytes, "connect :80: no host given");

    id = server.connect(svc, "127.0.0.1", 70000);
    ASSERT_TRUE(id.ok());
    e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::error);
    EXPECT_NE(e->bytes.find("port out of range"), std::string::npos) << e->bytes;
}

// A port whose accept queue is full: the kernel drops new SYNs, so a connect to it stays in
// progress (loopback connects to a free listener may complete at once). Returns the listening
// fd and fills `fillers` with the connections that fill it.
int full_listener(int* port, std::vector<int>& fillers) {
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd, 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    for (int i = 0; i < 8; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        fillers.push_back(fd);
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 200) == 0) break;  // this one hangs: the queue is full
    }
    return lfd;
}

TEST_F(ConnectTest, CloseWhileConnectingReleasesTheSocket) {
    int port = 0;
    std::vector<int> fillers;
    int lfd = full_listener(&port, fillers);
    auto id = server.connect(svc, "127.0.0.1", port);
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(server.send(id.value(), Payload::copy("queued while connecting")));
    auto info = server.info(id.value());
    ASSERT_TRUE(info);
    ASSERT_EQ(info->state, SlotState::connecting);
    EXPECT_EQ(info->buffered, 23u);
    server.close(id.value());
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::closed);
    EXPECT_TRUE(sink.none_within(svc, 50ms)) << "an event after closed";
    EXPECT_EQ(server.socket_count(), 0u);
    EXPECT_EQ(server.buffered_bytes(), 0u);
    for (int fd : fillers)
        ::close(fd);
    ::close(lfd);
}

}  // namespace
}  // namespace skyhive::net
