// Write queues: priorities, and a buffer cut by a short write is always finished first.
#include "net/write_queue.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace skyhive::net {
namespace {

WriteBuffer* buffer(const std::string& s) {
    auto* b = new WriteBuffer;
    b->data = Payload::copy(s);
    return b;
}

class WriteQueueTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
        ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
    }
    void TearDown() override {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    std::string read_all() {
        std::string out;
        char buf[65536];
        ssize_t n;
        while ((n = ::read(fds[1], buf, sizeof buf)) > 0)
            out.append(buf, size_t(n));
        return out;
    }
    int fds[2];
};

TEST_F(WriteQueueTest, HighGoesBeforeLowAndAllDrains) {
    WriteQueue q;
    q.push(buffer("low1 "), Priority::low);
    q.push(buffer("high1 "), Priority::high);
    q.push(buffer("low2"), Priority::low);
    q.push(buffer("high2 "), Priority::high);
    EXPECT_EQ(q.bytes, 21u);
    FlushResult r = flush_stream(fds[0], true, q);
    EXPECT_EQ(r.status, FlushStatus::drained);
    EXPECT_EQ(r.written, 21u);
    EXPECT_EQ(q.bytes, 0u);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(read_all(), "high1 high2 low1 low2");
}

TEST_F(WriteQueueTest, ACutLowBufferIsFinishedBeforeANewerHighOne) {
    WriteQueue q;
    const std::string big(4u << 20, 'L');  // more than the socket buffer takes at once
    q.push(buffer(big), Priority::low);
    FlushResult r = flush_stream(fds[0], true, q);
    ASSERT_EQ(r.status, FlushStatus::blocked);
    ASSERT_GT(r.written, 0u);
    ASSERT_LT(r.written, big.size());
    // An urgent buffer arrives while the low one is half out: it must wait for the rest.
    q.push(buffer("HIGH"), Priority::high);
    q.push(buffer("low-after"), Priority::low);
    std::string got;
    while (!q.empty()) {
        got += read_all();
        r = flush_stream(fds[0], true, q);
        ASSERT_NE(r.status, FlushStatus::failed);
    }
    got += read_all();
    ASSERT_EQ(got.size(), big.size() + 4 + 9);
    EXPECT_EQ(got.substr(0, big.size()), big);
    EXPECT_EQ(got.substr(big.size()), "HIGHlow-after");
}

TEST_F(WriteQueueTest, OffsetSkipsAHeader) {
    WriteQueue q;
    auto* b = buffer("headerBODY");
    b->offset = 6;
    q.push(b, Priority::high);
    EXPECT_EQ(q.bytes, 4u);
    EXPECT_EQ(flush_stream(fds[0], true, q).status, FlushStatus::drained);
    EXPECT_EQ(read_all(), "BODY");
}

TEST_F(WriteQueueTest, ClosedPeerIsAFailureWithErrno) {
    WriteQueue q;
    q.push(buffer("nobody"), Priority::high);
    ::close(fds[1]);
    fds[1] = ::open("/dev/null", O_RDONLY);
    FlushResult r = flush_stream(fds[0], true, q);
    EXPECT_EQ(r.status, FlushStatus::failed);
    EXPECT_EQ(r.err, EPIPE);
    EXPECT_EQ(q.clear(), 6u);
}

}  // namespace
}  // namespace skyhive::net
