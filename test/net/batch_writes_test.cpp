// A worker's sends are put off to the end of the batch it runs (core/deferred.h,
// SocketServer::send), and must still leave before anything else the batch does can be seen: a
// message to another service, a command on the socket. The test thread plays the worker running
// a batch (deferred::begin_batch/end_batch); a C++ service on a real Node writes to the same
// socket when told, on a worker of its own.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "core/deferred.h"
#include "core/node.h"
#include "core/service.h"
#include "net/socket_server.h"
#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;
using namespace std::chrono_literals;

// Writes each text message it gets to the socket `id`.
class Writer : public Module {
  public:
    Writer(SocketServer& server, std::atomic<int32_t>& id) : server_(server), id_(id) {}
    bool init(Service&, std::string_view) override { return true; }
    void on_message(Service&, Message& msg) override {
        if (msg.type != MessageType::text) return;
        server_.send(id_.load(), Payload::copy(msg.payload.data(), msg.payload.size()));
    }

  private:
    SocketServer& server_;
    std::atomic<int32_t>& id_;
};

struct WriterNode {
    explicit WriterNode(bool batch_writes = true)
        : node(quiet_node_options()), server(node, options(batch_writes)) {
        node.modules().add("writer", [this] { return std::make_unique<Writer>(server, id); });
    }
    ~WriterNode() {
        if (peer >= 0) ::close(peer);
        node.shutdown();
    }
    static SocketServerOptions options(bool batch_writes) {
        SocketServerOptions o;
        o.batch_writes = batch_writes;
        return o;
    }
    // The node, its writer, and a socket pair: one end adopted by the server, `peer` ours.
    void start() {
        ASSERT_NO_FATAL_FAILURE(start_node_and_server(node, server, "writer", &writer));
        int fds[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        peer = fds[1];
        auto bound = server.bind(writer, fds[0]);
        ASSERT_TRUE(bound.ok()) << bound.error().message;
        id.store(bound.value());
        ASSERT_TRUE(wait_until([&] {
            auto info = server.info(id.load());
            return info.has_value();
        }));
    }
    // Whether anything can be read from `peer` within `wait`.
    bool readable(std::chrono::milliseconds wait) const {
        pollfd p{peer, POLLIN, 0};
        return ::poll(&p, 1, int(wait.count())) == 1;
    }

    Node node;
    SocketServer server;
    Handle writer;
    std::atomic<int32_t> id{0};
    int peer = -1;
};

TEST(BatchWrites, ASendInABatchWaitsForTheBatchsEnd) {
    WriterNode n;
    ASSERT_NO_FATAL_FAILURE(n.start());
    deferred::begin_batch();
    EXPECT_TRUE(n.server.send(n.id.load(), Payload::copy("x")));
    EXPECT_FALSE(n.readable(50ms)) << "the send left before the batch ended";
    deferred::end_batch();
    char c = 0;
    ASSERT_TRUE(read_exact(n.peer, &c, 1));
    EXPECT_EQ(c, 'x');
}

TEST(BatchWrites, WithoutBatchWritesASendInABatchLeavesAtOnce) {
    WriterNode n(false);
    ASSERT_NO_FATAL_FAILURE(n.start());
    deferred::begin_batch();
    EXPECT_TRUE(n.server.send(n.id.load(), Payload::copy("x")));
    const bool arrived = n.readable(2000ms);
    deferred::end_batch();
    EXPECT_TRUE(arrived) << "batch_writes = false still held the send";
}

TEST(BatchWrites, ASendPutOffLeavesBeforeAMessageSentAfterIt) {
    // The writer runs on a worker while the batch goes on (the test thread sleeps in it): its
    // "b" must not overtake the "a" written ahead of the message that asked for it.
    WriterNode n;
    ASSERT_NO_FATAL_FAILURE(n.start());
    deferred::begin_batch();
    EXPECT_TRUE(n.server.send(n.id.load(), Payload::copy("a")));
    EXPECT_TRUE(n.node.send(Handle(), n.writer, MessageType::text, 0, Payload::copy("b")));
    std::this_thread::sleep_for(100ms);
    deferred::end_batch();
    char got[2] = {};
    ASSERT_TRUE(read_exact(n.peer, got, 2));
    EXPECT_EQ(std::string(got, 2), "ab");
}

TEST(BatchWrites, ASendPutOffLeavesBeforeACloseIssuedAfterIt) {
    WriterNode n;
    ASSERT_NO_FATAL_FAILURE(n.start());
    deferred::begin_batch();
    EXPECT_TRUE(n.server.send(n.id.load(), Payload::copy("last words")));
    n.server.close(n.id.load());
    std::string got;
    read_to_eof(n.peer, &got);
    deferred::end_batch();
    EXPECT_EQ(got, "last words");
}

TEST(BatchWrites, SixtyFourSendsGoOutWithoutWaitingForTheEnd) {
    WriterNode n;
    ASSERT_NO_FATAL_FAILURE(n.start());
    deferred::begin_batch();
    for (int i = 0; i < 64; ++i)
        EXPECT_TRUE(n.server.send(n.id.load(), Payload::copy("z")));
    std::string got(64, '\0');
    const bool arrived = read_exact(n.peer, got.data(), got.size(), 2s);
    deferred::end_batch();
    ASSERT_TRUE(arrived) << "64 sends still held";
    EXPECT_EQ(got, std::string(64, 'z'));
}

}  // namespace
}  // namespace skyhive::net
