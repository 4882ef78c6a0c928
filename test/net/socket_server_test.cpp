// The socket server's basic contract: paused starts, events and their payloads, ownership,
// framed mode, adopted fds, options and statistics.
#include "net/socket_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;

class SocketServerTest : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(server.start().ok()); }

    // Listens on 127.0.0.1 for `owner` and starts accepting.
    BoundSocket listen_started(Handle owner) {
        auto l = server.listen(owner, "127.0.0.1", 0);
        EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.error().message);
        if (!l.ok()) return {};
        server.start(l->id);
        return l.value();
    }
    // Accepts one client connection; returns the client fd and the accepted id (started).
    std::pair<int, int32_t> accept_one(Handle owner, const BoundSocket& l, bool start = true) {
        int fd = connect_local(l.port);
        EXPECT_GE(fd, 0);
        auto e = sink.next_of(owner, SocketEventType::accepted);
        EXPECT_TRUE(e.has_value());
        if (!e) return {fd, 0};
        EXPECT_EQ(e->id(), l.id);
        if (start) server.start(e->ud());
        return {fd, e->ud()};
    }

    EventSink sink;
    SocketServer server{sink};
    const Handle svc{1};
};

TEST_F(SocketServerTest, EventHeaderLayoutIsTheDocumentedOne) {
    Payload p =
        make_socket_event(SocketEventType::error, 42, 7, "boom", uint8_t(SocketOp::write), 32);
    ASSERT_EQ(p.size(), 16u + 4u);
    const auto* b = reinterpret_cast<const uint8_t*>(p.data());
    EXPECT_EQ(b[0], 5);  // error
    EXPECT_EQ(b[1], uint8_t(SocketOp::write));
    int32_t v;
    std::memcpy(&v, b + 4, 4);
    EXPECT_EQ(v, 42);
    std::memcpy(&v, b + 8, 4);
    EXPECT_EQ(v, 7);
    std::memcpy(&v, b + 12, 4);
    EXPECT_EQ(v, 32);
    EXPECT_EQ(event_bytes(p), "boom");
}

TEST_F(SocketServerTest, ListenerAcceptsOnlyAfterStart) {
    auto l = server.listen(svc, "127.0.0.1", 0);
    ASSERT_TRUE(l.ok()) << l.error().message;
    ASSERT_GT(l->port, 0);
    int fd = connect_local(l->port);  // completes in the kernel backlog
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(sink.none_within(svc, 100ms)) << "accepted before start()";
    server.start(l->id);
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::accepted);
    EXPECT_EQ(e->id(), l->id);
    EXPECT_GT(e->ud(), 0);
    EXPECT_NE(e->ud(), l->id);
    SocketAddress mine = local_address(fd);
    EXPECT_EQ(e->bytes, mine.to_string());
    ::close(fd);
}

TEST_F(SocketServerTest, AcceptedSocketReadsOnlyWhenStartedAndPauseStopsIt) {
    auto l = listen_started(svc);
    auto [fd, id] = accept_one(svc, l, /*start=*/false);
    ASSERT_TRUE(write_all(fd, "hello", 5));
    EXPECT_TRUE(sink.none_within(svc, 100ms)) << "data before start()";
    server.start(id);
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::data);
    EXPECT_EQ(e->id(), id);
    EXPECT_EQ(e->bytes, "hello");

    server.pause(id);
    ASSERT_FALSE(server.info(id)->reading);  // info() is ordered after pause()
    ASSERT_TRUE(write_all(fd, "world", 5));
    EXPECT_TRUE(sink.none_within(svc, 100ms)) << "data while paused";
    server.start(id);
    e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->bytes, "world");
    ::close(fd);
}

TEST_F(SocketServerTest, StartWithAnOwnerHandsTheSocketOver) {
    const Handle gate{1}, agent{2};
    auto l = listen_started(gate);
    auto [fd, id] = accept_one(gate, l, /*start=*/false);
    server.start(id, agent);
    ASSERT_TRUE(write_all(fd, "x", 1));
    auto e = sink.next(agent);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::data);
    EXPECT_EQ(server.info(id)->owner, agent);
    EXPECT_TRUE(sink.none_within(gate, 50ms));
    ::close(fd);
}

TEST_F(SocketServerTest, ConnectQueuesEarlySendsAndReportsThePeer) {
    const Handle listener_owner{1}, client{2};
    auto l = listen_started(listener_owner);
    auto id = server.connect(client, "127.0.0.1", l.port);
    ASSERT_TRUE(id.ok()) << id.error().message;
    // Sent before the connect completes: queued, then written once connected.
    ASSERT_TRUE(server.send(id.value(), Payload::copy("early")));
    auto c = sink.next(client);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->type(), SocketEventType::connected);
    EXPECT_EQ(c->id(), id.value());
    EXPECT_EQ(c->bytes, "127.0.0.1:" + std::to_string(l.port));

    auto a = sink.next_of(listener_owner, SocketEventType::accepted);
    ASSERT_TRUE(a);
    server.start(a->ud());
    auto d = sink.next(listener_owner);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->type(), SocketEventType::data);
    EXPECT_EQ(d->bytes, "early");

    // And the connected side is paused until started, then reads.
    ASSERT_TRUE(server.send(a->ud(), Payload::copy("back")));
    EXPECT_TRUE(sink.none_within(client, 100ms));
    server.start(id.value());
    d = sink.next(client);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->bytes, "back");
}

TEST_F(SocketServerTest, ConnectByHostNameGoesThroughTheResolver) {
    const Handle listener_owner{1}, client{2};
    auto l = listen_started(listener_owner);
    auto id = server.connect(client, "localhost", l.port);
    ASSERT_TRUE(id.ok());
    // localhost may resolve to ::1 first, where nothing listens: the next address is tried.
    auto c = sink.next(client);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->type(), SocketEventType::connected) << c->bytes;
    EXPECT_EQ(c->bytes, "127.0.0.1:" + std::to_string(l.port));
}

TEST_F(SocketServerTest, EchoedBytesAndStatisticsAddUp) {
    auto l = listen_started(svc);
    auto [fd, id] = accept_one(svc, l);
    std::string sent(10000, '\0');
    fill_pattern(1, 0, sent.data(), sent.size());
    ASSERT_TRUE(write_all(fd, sent.data(), sent.size()));
    size_t got = 0;
    while (got < sent.size()) {
        auto e = sink.next(svc);
        ASSERT_TRUE(e);
        ASSERT_EQ(e->type(), SocketEventType::data);
        ASSERT_EQ(check_pattern(1, got, e->bytes.data(), e->bytes.size()), e->bytes.size());
        got += e->bytes.size();
        ASSERT_TRUE(server.send(id, std::move(e->payload), kEventHeaderSize));
    }
    std::string back(sent.size(), '\0');
    ASSERT_TRUE(read_exact(fd, back.data(), back.size()));
    EXPECT_EQ(back, sent);

    auto info = server.info(id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->id, id);
    EXPECT_EQ(info->kind, SocketKind::tcp);
    EXPECT_EQ(info->state, SlotState::open);
    EXPECT_EQ(info->owner, svc);
    EXPECT_EQ(info->bytes_in, sent.size());
    EXPECT_EQ(info->bytes_out, sent.size());
    EXPECT_EQ(info->buffered, 0u);
    EXPECT_GT(info->last_read_ns, 0u);
    EXPECT_GT(info->last_write_ns, 0u);
    EXPECT_EQ(info->address, local_address(fd).to_string());

    auto all = server.snapshot();
    ASSERT_EQ(all.size(), 2u);  // the listener and the connection
    EXPECT_EQ(server.socket_count(), 2u);
    ::close(fd);
}

TEST_F(SocketServerTest, OptionsReachTheKernel) {
    auto l = listen_started(svc);
    auto [fd, id] = accept_one(svc, l);
    auto info = server.info(id);
    EXPECT_TRUE(info->keepalive);  // the default
    EXPECT_FALSE(info->nodelay);
    server.set_nodelay(id, true);
    server.set_keepalive(id, false);
    info = server.info(id);
    EXPECT_TRUE(info->nodelay);
    EXPECT_FALSE(info->keepalive);
    // Linux doubles what is asked (for its bookkeeping) and stops tuning the buffer.
    server.set_buffers(id, 65536);
    info = server.info(id);
    EXPECT_EQ(info->sndbuf, 131072);
    EXPECT_EQ(info->rcvbuf, 131072);
    ::close(fd);
}

TEST_F(SocketServerTest, PeerEofKeepsTheIdWritableUntilClosed) {
    auto l = listen_started(svc);
    auto [fd, id] = accept_one(svc, l);
    ::shutdown(fd, SHUT_WR);
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::closed);
    EXPECT_EQ(e->header.op, uint8_t(CloseReason::eof));
    // Half-closed by the peer: the reply still goes out, then our close() sends FIN.
    ASSERT_TRUE(server.send(id, Payload::copy("bye")));
    server.close(id);
    std::string got;
    read_to_eof(fd, &got);
    EXPECT_EQ(got, "bye");
    e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::closed);
    EXPECT_EQ(e->header.op, uint8_t(CloseReason::owner));
    EXPECT_FALSE(server.send(id, Payload::copy("late")));
    ::close(fd);
}

TEST_F(SocketServerTest, CloseReadStopsDataButNotSends) {
    auto l = listen_started(svc);
    auto [fd, id] = accept_one(svc, l);
    server.close_read(id);
    ASSERT_FALSE(server.info(id)->reading);
    write_all(fd, "ignored", 7);
    EXPECT_TRUE(sink.none_within(svc, 100ms));
    ASSERT_TRUE(server.send(id, Payload::copy("still here")));
    char buf[10];
    ASSERT_TRUE(read_exact(fd, buf, sizeof buf));
    EXPECT_EQ(std::string(buf, 10), "still here");
    ::close(fd);
}

TEST_F(SocketServerTest, OwnerGoneClosesTheSocket) {
    const Handle gone{7};
    auto l = listen_started(svc);
    auto [fd, id] = accept_one(svc, l, false);
    server.start(id, gone);
    sink.kill(gone);
    ASSERT_TRUE(write_all(fd, "anyone?", 7));
    EXPECT_EQ(read_to_eof(fd), 0u);  // closed by the server, nothing sent
    EXPECT_FALSE(server.info(id).has_value());
    ::close(fd);
}

TEST_F(SocketServerTest, BindAdoptsAPipe) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    auto id = server.bind(svc, p[0]);
    ASSERT_TRUE(id.ok()) << id.error().message;
    server.start(id.value());
    ASSERT_EQ(::write(p[1], "line\n", 5), 5);
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::data);
    EXPECT_EQ(e->bytes, "line\n");
    EXPECT_EQ(server.info(id.value())->kind, SocketKind::stream);
    ::close(p[1]);
    e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::closed);
    EXPECT_EQ(e->header.op, uint8_t(CloseReason::eof));
    server.close(id.value());
    ASSERT_TRUE(sink.next_of(svc, SocketEventType::closed));
    EXPECT_EQ(server.socket_count(), 0u);
}

TEST_F(SocketServerTest, BindRefusesWhatEpollCannotWatch) {
    char path[] = "/tmp/skyhive-net-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    auto id = server.bind(svc, fd);
    ASSERT_TRUE(id.ok());
    server.start(id.value());
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::error);
    EXPECT_EQ(e->header.op, uint8_t(SocketOp::poll));
    EXPECT_EQ(e->header.err, EPERM);
    EXPECT_NE(e->bytes.find("Operation not permitted"), std::string::npos) << e->bytes;
}

TEST_F(SocketServerTest, ListenErrorsNameTheAddress) {
    auto first = server.listen(svc, "127.0.0.1", 0);
    ASSERT_TRUE(first.ok());
    auto second = server.listen(svc, "127.0.0.1", first->port);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, EADDRINUSE);
    EXPECT_EQ(second.error().message,
              "listen 127.0.0.1:" + std::to_string(first->port) + ": Address already in use");
}

TEST_F(SocketServerTest, StopClosesEverySocket) {
    auto l = listen_started(svc);
    auto [fd, id] = accept_one(svc, l);
    // Park bytes in the write queue: the client does not read.
    for (int i = 0; i < 64; ++i)
        server.send(id, Payload::allocate(256 * 1024));
    server.stop();
    EXPECT_EQ(server.socket_count(), 0u);
    EXPECT_EQ(server.buffered_bytes(), 0u);
    EXPECT_FALSE(server.send(id, Payload::copy("after")));
    // The connection was closed: EOF (or a reset) ends the read long before the deadline.
    auto t0 = std::chrono::steady_clock::now();
    read_to_eof(fd);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, kDeadline / 2);
    ::close(fd);
}

// Frames are lines; take() returns them concatenated, '\n' included.
class LineFramer : public Framer {
  public:
    Result<void> feed(const char* data, size_t n) override {
        for (size_t i = 0; i < n; ++i) {
            if (data[i] == '!') return Error{"line framer: '!' is not allowed", 0};
            partial_.push_back(data[i]);
            if (data[i] == '\n') {
                done_ += partial_;
                partial_.clear();
                ++count_;
            }
        }
        return {};
    }
    Payload take(uint32_t* count) override {
        *count = count_;
        count_ = 0;
        Payload p = Payload::copy(done_);
        done_.clear();
        return p;
    }

  private:
    std::string partial_, done_;
    uint32_t count_ = 0;
};

TEST_F(SocketServerTest, FramedModeDeliversWholeFrames) {
    auto l = listen_started(svc);
    auto [fd, id] = accept_one(svc, l, false);
    server.set_framer(id, std::make_unique<LineFramer>());
    server.start(id);
    ASSERT_TRUE(write_all(fd, "one\ntwo\nthr", 11));
    auto e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::frames);
    EXPECT_EQ(e->ud(), 2);
    EXPECT_EQ(e->bytes, "one\ntwo\n");
    ASSERT_TRUE(write_all(fd, "ee\n", 3));
    e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->ud(), 1);
    EXPECT_EQ(e->bytes, "three\n");
    // A read that completes no frame delivers nothing.
    ASSERT_TRUE(write_all(fd, "part", 4));
    EXPECT_TRUE(sink.none_within(svc, 100ms));
    // A malformed stream closes the socket with the framer's text.
    ASSERT_TRUE(write_all(fd, "!\n", 2));
    e = sink.next(svc);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type(), SocketEventType::error);
    EXPECT_EQ(e->header.op, uint8_t(SocketOp::frame));
    EXPECT_EQ(e->bytes, "line framer: '!' is not allowed");
    EXPECT_EQ(read_to_eof(fd), 0u);
    EXPECT_FALSE(server.info(id));
    ::close(fd);
}

TEST_F(SocketServerTest, CommandsAfterStopAreIgnored) {
    server.stop();
    EXPECT_FALSE(server.listen(svc, "127.0.0.1", 0).ok());
    EXPECT_FALSE(server.connect(svc, "127.0.0.1", 1).ok());
    EXPECT_FALSE(server.send(1 << kSlotBits, Payload::copy("x")));
    server.close(1 << kSlotBits);
    EXPECT_FALSE(server.info(1 << kSlotBits));
}

}  // namespace
}  // namespace skyhive::net
