// Outgoing connects that fail: the owner gets an error event naming the target and the errno.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

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

TEST_F(ConnectTest, CloseWhileConnectingReleasesTheSocket) {
    auto l = server.listen(svc, "127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    const Handle client{3};
    auto id = server.connect(client, "127.0.0.1", l->port);
    ASSERT_TRUE(id.ok());
    server.close(id.value());  // processed right after the connect began
    auto e = sink.next(client);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::closed);
    EXPECT_TRUE(sink.none_within(client, 50ms)) << "an event after closed";
    EXPECT_EQ(server.socket_count(), 1u);
}

}  // namespace
}  // namespace skyhive::net
