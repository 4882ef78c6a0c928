// Ending connections: graceful close flushes, shutdown drops, a close that cannot finish ends
// after the linger, resets from the peer are reported without leaks, and a stale id never
// reaches the socket that reuses its slot.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "net/socket_server.h"
#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;

constexpr size_t kLarge = 32u << 20;  // far beyond what loopback buffers hold
constexpr size_t kChunk = 64 * 1024;

// A connection to `port` whose client never reads, with more than both kernel buffers take
// (however large they are) sent to it: sent until 1 MB waits in `server`'s queue, at most 64 MB.
// -> the client's fd and the server's started id (fd -1 on failure, with a test failure).
std::pair<int, int32_t> stuffed_connection(SocketServer& server, EventSink& sink, Handle svc,
                                           uint16_t port) {
    int fd = connect_local(port);
    EXPECT_GE(fd, 0);
    const int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    auto a = sink.next_of(svc, SocketEventType::accepted);
    EXPECT_TRUE(a);
    if (fd < 0 || !a) return {-1, 0};
    const int32_t id = a->ud();
    server.start(id);
    server.set_buffers(id, small);
    for (int i = 0; i < 1024 && server.buffered_bytes() <= (1u << 20); ++i) {
        EXPECT_TRUE(server.send(id, Payload::copy(std::string(kChunk, 'x'))));
        if (i % 16 == 15) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_TRUE(wait_until([&] { return server.buffered_bytes() > (1u << 20); }));
    return {fd, id};
}

class CloseTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(server.start().ok());
        auto l = server.listen(svc, "127.0.0.1", 0);
        ASSERT_TRUE(l.ok());
        listener = l.value();
        server.start(listener.id);
    }
    // A client connection and its accepted, started id.
    std::pair<int, int32_t> accept_one() {
        int fd = connect_local(listener.port);
        EXPECT_GE(fd, 0);
        auto a = sink.next_of(svc, SocketEventType::accepted);
        EXPECT_TRUE(a);
        if (!a) return {fd, 0};
        server.start(a->ud());
        return {fd, a->ud()};
    }
    void send_large(int32_t id, uint64_t seed) {
        for (size_t off = 0; off < kLarge; off += kChunk) {
            Payload p = Payload::allocate(kChunk);
            fill_pattern(seed, off, p.data(), kChunk);
            ASSERT_TRUE(server.send(id, std::move(p)));
        }
    }

    EventSink sink;
    SocketServer server{sink};
    const Handle svc{1};
    BoundSocket listener;
};

TEST_F(CloseTest, GracefulCloseAfterALargeSendDeliversEveryByte) {
    auto [fd, id] = accept_one();
    send_large(id, 3);
    server.close(id);
    auto closed = sink.next_of(svc, SocketEventType::closed);
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->id(), id);
    EXPECT_EQ(closed->header.op, uint8_t(CloseReason::owner));
    EXPECT_FALSE(server.send(id, Payload::copy("too late")));
    ASSERT_GT(server.buffered_bytes(), 0u) << "the test needs bytes still queued at close()";

    std::string got;
    got.reserve(kLarge);
    read_to_eof(fd, &got);
    ASSERT_EQ(got.size(), kLarge);
    EXPECT_EQ(check_pattern(3, 0, got.data(), got.size()), kLarge);
    // Flushed, FIN sent, slot released: only the listener is left.
    EXPECT_TRUE(wait_until([&] { return server.socket_count() == 1; }));
    EXPECT_EQ(server.buffered_bytes(), 0u);
    ::close(fd);
}

TEST_F(CloseTest, ShutdownDropsQueuedBytes) {
    auto [fd, id] = accept_one();
    send_large(id, 4);
    server.shutdown(id);
    auto closed = sink.next_of(svc, SocketEventType::closed);
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->header.op, uint8_t(CloseReason::owner));
    EXPECT_EQ(server.buffered_bytes(), 0u);
    EXPECT_EQ(server.socket_count(), 1u);
    std::string got;
    read_to_eof(fd, &got);
    EXPECT_LT(got.size(), kLarge);
    EXPECT_EQ(check_pattern(4, 0, got.data(), got.size()), got.size());
    ::close(fd);
}

TEST_F(CloseTest, ShutdownEndsAGracefulCloseThatAPeerWhichNeverReadsHolds) {
    auto [fd, id] = stuffed_connection(server, sink, svc, listener.port);
    ASSERT_GE(fd, 0);
    server.close(id);
    ASSERT_TRUE(sink.next_of(svc, SocketEventType::closed));
    auto lingering = server.info(id);
    ASSERT_TRUE(lingering) << "the close is still flushing";
    EXPECT_EQ(lingering->state, SlotState::closing);

    server.shutdown(id);
    EXPECT_TRUE(wait_until([&] { return server.socket_count() == 1; }))
        << "the closing socket is still there";
    EXPECT_FALSE(server.info(id).has_value());
    EXPECT_EQ(server.buffered_bytes(), 0u);
    EXPECT_TRUE(sink.none_within(svc, std::chrono::milliseconds(50)))
        << "the owner had its closed event at the close";
    ::close(fd);
}

TEST(CloseLinger, AGracefulCloseThatCannotFinishEndsAfterTheLinger) {
    EventSink sink;
    SocketServerOptions options;
    options.close_linger_ms = 300;
    SocketServer server{sink, options};
    const Handle svc{1};
    ASSERT_TRUE(server.start().ok());
    auto l = server.listen(svc, "127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    server.start(l.value().id);
    auto [fd, id] = stuffed_connection(server, sink, svc, l.value().port);
    ASSERT_GE(fd, 0);
    const auto t0 = std::chrono::steady_clock::now();
    server.close(id);
    ASSERT_TRUE(sink.next_of(svc, SocketEventType::closed));
    EXPECT_TRUE(server.info(id).has_value()) << "still flushing just after the close";
    EXPECT_TRUE(wait_until([&] { return server.socket_count() == 1; }))
        << "the close that cannot finish is still there";
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, std::chrono::milliseconds(290)) << "not before the linger";
    EXPECT_EQ(server.buffered_bytes(), 0u);
    ::close(fd);
    server.stop();
}

TEST_F(CloseTest, ASendIssuedAfterCloseIsNeverWritten) {
    // The send may pass the caller's liveness check before the socket thread has seen the close;
    // it must still not be written directly ahead of it.
    auto [fd1, id1] = accept_one();
    server.shutdown(id1);
    server.send(id1, Payload::copy("after shutdown"));
    auto [fd2, id2] = accept_one();
    server.close(id2);
    server.send(id2, Payload::copy("after close"));
    EXPECT_EQ(read_to_eof(fd1), 0u);
    EXPECT_EQ(read_to_eof(fd2), 0u);
    ::close(fd1);
    ::close(fd2);
}

TEST_F(CloseTest, PeerResetWhileSendingIsAnErrorEventAndFreesEverything) {
    auto [fd, id] = accept_one();
    send_large(id, 5);
    char buf[4096];
    ASSERT_TRUE(read_exact(fd, buf, sizeof buf));
    set_reset_on_close(fd);
    ::close(fd);
    auto e = sink.next_of(svc, SocketEventType::error);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->id(), id);
    EXPECT_TRUE(e->header.err == ECONNRESET || e->header.err == EPIPE) << e->bytes;
    EXPECT_TRUE(e->header.op == uint8_t(SocketOp::read) ||
                e->header.op == uint8_t(SocketOp::write));
    EXPECT_NE(e->bytes.find("127.0.0.1:"), std::string::npos) << e->bytes;
    EXPECT_EQ(server.buffered_bytes(), 0u);
    EXPECT_EQ(server.socket_count(), 1u);
    EXPECT_FALSE(server.send(id, Payload::copy("x")));
}

TEST_F(CloseTest, PeerResetWhileReceivingIsReported) {
    auto [fd, id] = accept_one();
    std::string chunk(kChunk, 'x');
    for (int i = 0; i < 16; ++i)
        ASSERT_TRUE(write_all(fd, chunk.data(), chunk.size()));
    set_reset_on_close(fd);
    ::close(fd);
    // Data events may come first; then the reset ends the socket.
    for (;;) {
        auto e = sink.next(svc);
        ASSERT_TRUE(e);
        if (e->type() == SocketEventType::data) continue;
        EXPECT_TRUE(e->type() == SocketEventType::error || e->type() == SocketEventType::closed)
            << to_string(e->type());
        if (e->type() == SocketEventType::closed) server.close(id);  // EOF: ours to close
        break;
    }
    EXPECT_TRUE(wait_until([&] { return server.socket_count() == 1; }));
}

TEST_F(CloseTest, StaleIdIsIgnoredByEveryCommand) {
    auto [old_fd, stale] = accept_one();
    server.close(stale);
    ASSERT_TRUE(sink.next_of(svc, SocketEventType::closed));
    ::close(old_fd);

    // Open sockets until one lands in the stale id's slot (slots are handed out round robin).
    int fd = -1;
    int32_t id = 0;
    for (int i = 0; i < 4096 && id == 0; ++i) {
        auto [f, candidate] = accept_one();
        ASSERT_NE(candidate, stale);
        if (slot_index(candidate) == slot_index(stale)) {
            fd = f;
            id = candidate;
        } else {
            server.shutdown(candidate);
            ASSERT_TRUE(sink.next_of(svc, SocketEventType::closed));
            ::close(f);
        }
    }
    ASSERT_NE(id, 0) << "slot never reused";
    ASSERT_NE(slot_generation(id), slot_generation(stale));

    // Every command with the stale id must leave the new socket alone.
    EXPECT_FALSE(server.send(stale, Payload::copy("stale send")));
    EXPECT_FALSE(server.send_low(stale, Payload::copy("stale low")));
    EXPECT_FALSE(server.send_to(stale, UdpAddress::parse("127.0.0.1", 9).value(),
                                Payload::copy("stale udp")));
    server.pause(stale);
    server.start(stale, Handle(99));
    server.set_nodelay(stale, true);
    server.set_keepalive(stale, false);
    server.set_framer(stale, nullptr);
    server.close_read(stale);
    server.close(stale);
    server.shutdown(stale);
    EXPECT_FALSE(server.info(stale));

    auto info = server.info(id);  // ordered after all of the above
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state, SlotState::open);
    EXPECT_EQ(info->owner, svc);
    EXPECT_TRUE(info->reading);
    EXPECT_FALSE(info->nodelay);
    EXPECT_TRUE(info->keepalive);
    EXPECT_TRUE(sink.none_within(svc, 20ms)) << "an event for the stale id";

    // The new socket still works both ways, and saw none of the stale bytes.
    ASSERT_TRUE(server.send(id, Payload::copy("fresh")));
    char buf[5];
    ASSERT_TRUE(read_exact(fd, buf, 5));
    EXPECT_EQ(std::string(buf, 5), "fresh");
    ASSERT_TRUE(write_all(fd, "up", 2));
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::data);
    EXPECT_EQ(e->id(), id);
    ::close(fd);
}

}  // namespace
}  // namespace skyhive::net
