// Paused sockets of owners that are gone: released once the owner has been gone for the grace
// (SocketServerOptions::orphan_grace_ms), unless a live service started them meanwhile.
#include "net/orphan_sweep.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>

#include "core/node.h"
#include "net/socket_server.h"
#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;

constexpr uint32_t kGraceMs = 200;

SocketServerOptions short_grace() {
    SocketServerOptions o;
    o.orphan_grace_ms = kGraceMs;
    return o;
}

class OrphanSweepTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(server.start().ok());
        auto l = server.listen(svc, "127.0.0.1", 0);
        ASSERT_TRUE(l.ok());
        listener = l.value();
        server.start(listener.id);
    }
    // A client connection and the id its `accepted` event names (not started).
    std::pair<int, int32_t> accept_one() {
        int fd = connect_local(listener.port);
        EXPECT_GE(fd, 0);
        auto a = sink.next_of(svc, SocketEventType::accepted);
        EXPECT_TRUE(a);
        return {fd, a ? a->ud() : 0};
    }

    EventSink sink;
    SocketServer server{sink, short_grace()};
    const Handle svc{1};
    BoundSocket listener;
};

TEST_F(OrphanSweepTest, AnAcceptedSocketWhoseOwnerDiedBeforeHandlingItsEventIsReleased) {
    int fd = connect_local(listener.port);
    ASSERT_GE(fd, 0);
    // The accepted event waits in svc's queue, and svc dies with it there (Node::retire drops it).
    ASSERT_TRUE(wait_until([&] { return sink.queued(svc) > 0; }));
    sink.kill(svc);
    server.close(listener.id);  // what the dead service's finalizer does for the ids it knew
    EXPECT_TRUE(wait_until([&] { return server.socket_count() == 0; }))
        << server.socket_count() << " socket(s) left";
    EXPECT_EQ(read_to_eof(fd), 0u) << "the client sees the connection end";
    ::close(fd);
}

TEST_F(OrphanSweepTest, OnlyTheSocketNobodyTookOverIsReleased) {
    const Handle other{2};
    auto [handed_fd, handed] = accept_one();
    auto [left_fd, left] = accept_one();
    ASSERT_NE(handed, 0);
    ASSERT_NE(left, 0);
    sink.kill(svc);
    server.start(handed, other);  // the dead service had handed this one on
    server.close(listener.id);

    EXPECT_TRUE(wait_until([&] { return !server.info(left).has_value(); }));
    EXPECT_EQ(read_to_eof(left_fd), 0u);
    // Well past two graces: the socket its new owner started is still there, and reads.
    std::this_thread::sleep_for(std::chrono::milliseconds(3 * kGraceMs));
    EXPECT_TRUE(server.info(handed).has_value());
    ASSERT_TRUE(write_all(handed_fd, "still", 5));
    auto data = sink.next_of(other, SocketEventType::data);
    ASSERT_TRUE(data);
    EXPECT_EQ(data->bytes, "still");
    EXPECT_EQ(server.socket_count(), 1u);
    ::close(handed_fd);
    ::close(left_fd);
}

TEST_F(OrphanSweepTest, ASocketItsOwnerPausedIsReleasedOnceTheOwnerIsGone) {
    auto [fd, id] = accept_one();
    server.start(id);
    server.pause(id);
    ASSERT_TRUE(wait_until([&] {
        auto info = server.info(id);
        return info && !info->reading;
    }));
    sink.kill(svc);
    server.close(listener.id);
    EXPECT_TRUE(wait_until([&] { return server.socket_count() == 0; }));
    EXPECT_EQ(read_to_eof(fd), 0u);
    ::close(fd);
}

// The same on a real node: the service is busy when the connection comes, is killed, and its
// retirement drops the accepted event unread; its release closes the listener, as snlua's
// finalizer does.
TEST(OrphanSweepNode, AnAcceptedEventDroppedByARetiringServiceLeavesNoSocket) {
    Node node(quiet_node_options());
    SocketServer server(node, short_grace());
    std::atomic<bool> inside{false}, go{false};
    std::atomic<int32_t> listener_id{0};
    struct Holder : Module {
        std::atomic<bool>& inside;
        std::atomic<bool>& go;
        std::atomic<int32_t>& listener;
        SocketServer& server;
        Holder(std::atomic<bool>& i, std::atomic<bool>& g, std::atomic<int32_t>& l, SocketServer& s)
            : inside(i), go(g), listener(l), server(s) {}
        bool init(Service&, std::string_view) override { return true; }
        void on_message(Service&, Message& m) override {
            if (m.type != MessageType::text) return;
            inside = true;
            while (!go.load())
                std::this_thread::yield();
        }
        void release(Service&) override { server.close(listener.load()); }
    };
    node.modules().add("holder",
                       [&] { return std::make_unique<Holder>(inside, go, listener_id, server); });
    Handle h;
    ASSERT_NO_FATAL_FAILURE(start_node_and_server(node, server, "holder", &h));
    auto l = server.listen(h, "127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    listener_id = l->id;
    server.start(l->id);

    node.send(Handle(), h, MessageType::text, 0, Payload());
    ASSERT_TRUE(wait_until([&] { return inside.load(); }));
    int fd = connect_local(l->port);
    ASSERT_GE(fd, 0);
    // The socket thread delivers the accepted event in the same step as it takes the socket, so
    // once the table shows the socket, the event is in the busy service's mailbox.
    ASSERT_TRUE(wait_until([&] { return server.snapshot().size() == 2; }));
    ASSERT_TRUE(node.kill(h));
    go = true;
    EXPECT_TRUE(wait_until([&] { return server.socket_count() == 0; }))
        << server.socket_count() << " socket(s) left";
    EXPECT_EQ(read_to_eof(fd), 0u);
    ::close(fd);
    node.shutdown();
}

}  // namespace
}  // namespace skyhive::net
