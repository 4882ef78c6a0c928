// 100 MB each way through a slow reader: nothing lost or reordered, the write-queue warnings fire
// and the memory comes back once the queue drains.
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/socket_server.h"
#include "net_test_support.h"

namespace skyhive::net {
namespace {

using namespace test;

constexpr size_t kTotal = 100u << 20;
constexpr size_t kChunk = 64 * 1024;

size_t heap_in_use() {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

class FlowTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(server.start().ok());
        auto l = server.listen(svc, "127.0.0.1", 0);
        ASSERT_TRUE(l.ok());
        server.start(l->id);
        client = connect_local(l->port);
        ASSERT_GE(client, 0);
        auto a = sink.next_of(svc, SocketEventType::accepted);
        ASSERT_TRUE(a);
        id = a->ud();
    }
    void TearDown() override { ::close(client); }

    EventSink sink;
    SocketServer server{sink};
    const Handle svc{1};
    int client = -1;
    int32_t id = 0;
};

TEST_F(FlowTest, SlowClientGetsEveryByteWarningsFireAndMemoryReturns) {
    const size_t heap_before = heap_in_use();
    // The client reads nothing yet: past the kernel's buffers everything queues in the server.
    for (size_t off = 0; off < kTotal; off += kChunk) {
        Payload p = Payload::allocate(kChunk);
        fill_pattern(7, off, p.data(), kChunk);
        ASSERT_TRUE(server.send(id, std::move(p)));
    }
    // Warnings at >= 1 MB, then at each doubling, up to 64 MB (the kernel holds at most a few MB
    // of the 100).
    std::vector<int32_t> warnings;
    while (warnings.empty() || warnings.back() < 64 * 1024) {
        auto w = sink.next_of(svc, SocketEventType::warning);
        ASSERT_TRUE(w) << "warnings so far: " << warnings.size();
        ASSERT_EQ(w->id(), id);
        warnings.push_back(w->ud());
    }
    for (size_t k = 0; k < warnings.size(); ++k) {
        EXPECT_GE(warnings[k], 1024 << k) << "warning " << k;
        if (k) {
            EXPECT_GT(warnings[k], warnings[k - 1]);
        }
    }
    EXPECT_EQ(warnings.size(), 7u);  // 1, 2, 4, 8, 16, 32, 64 MB
    EXPECT_GE(server.buffered_bytes(), 64u << 20);

    // Now read it all, checking every byte.
    std::vector<char> buf(1 << 20);
    size_t got = 0;
    while (got < kTotal) {
        size_t want = std::min(buf.size(), kTotal - got);
        ssize_t r = ::recv(client, buf.data(), want, 0);
        ASSERT_GT(r, 0) << "after " << got << " bytes";
        ASSERT_EQ(check_pattern(7, got, buf.data(), size_t(r)), size_t(r)) << "at " << got;
        got += size_t(r);
    }
    auto drained = sink.next_of(svc, SocketEventType::warning);
    ASSERT_TRUE(drained);
    EXPECT_EQ(drained->ud(), 0) << "drained warning";
    EXPECT_EQ(server.buffered_bytes(), 0u);
    auto info = server.info(id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->buffered, 0u);
    EXPECT_EQ(info->bytes_out, kTotal);
#ifndef SKYHIVE_SANITIZED  // sanitizers bring their own allocator, which mallinfo2 cannot see
    EXPECT_LT(heap_in_use(), heap_before + (8u << 20))
        << "heap before " << heap_before << ", after " << heap_in_use();
#else
    (void)heap_before;
#endif
}

TEST_F(FlowTest, PausingServiceGetsEveryByteInOrder) {
    std::atomic<bool> writer_ok{true};
    std::thread writer([&] {
        std::vector<char> buf(kChunk);
        for (size_t off = 0; off < kTotal; off += kChunk) {
            fill_pattern(9, off, buf.data(), kChunk);
            if (!write_all(client, buf.data(), kChunk)) {
                writer_ok = false;
                return;
            }
        }
    });
    server.start(id);
    size_t got = 0;
    size_t next_pause = 8u << 20;
    int pauses = 0;
    while (got < kTotal) {
        auto e = sink.next(svc);
        ASSERT_TRUE(e) << "after " << got << " bytes";
        ASSERT_EQ(e->type(), SocketEventType::data);
        ASSERT_EQ(check_pattern(9, got, e->bytes.data(), e->bytes.size()), e->bytes.size())
            << "at " << got;
        got += e->bytes.size();
        if (got >= next_pause) {
            // Flow control: once pause() has taken effect (info() is ordered after it), no
            // further data event may be produced, whatever the client keeps sending.
            server.pause(id);
            ASSERT_FALSE(server.info(id)->reading);
            size_t queued = sink.queued(svc);
            EXPECT_TRUE(wait_until([&] { return sink.queued(svc) != queued; }, 20ms) == false);
            server.start(id);
            next_pause += 8u << 20;
            ++pauses;
        }
    }
    writer.join();
    EXPECT_TRUE(writer_ok);
    EXPECT_EQ(got, kTotal);
    EXPECT_GE(pauses, 12);
    EXPECT_EQ(server.info(id)->bytes_in, kTotal);
}

TEST_F(FlowTest, HighPriorityGoesFirstButNeverInsideACutBuffer) {
    // The client does not read, so the first low buffer is cut by the full socket buffer.
    const size_t big = 16u << 20;
    Payload low1 = Payload::allocate(big);
    std::memset(low1.data(), 'a', big);
    ASSERT_TRUE(server.send_low(id, std::move(low1)));
    ASSERT_TRUE(server.send_low(id, Payload::copy("second low")));
    ASSERT_TRUE(server.send(id, Payload::copy("HIGH")));
    std::string got;
    got.reserve(big + 64);
    std::vector<char> buf(1 << 20);
    while (got.size() < big + 14) {
        ssize_t r = ::recv(client, buf.data(), buf.size(), 0);
        ASSERT_GT(r, 0);
        got.append(buf.data(), size_t(r));
    }
    ASSERT_EQ(got.size(), big + 14);
    EXPECT_EQ(got.find_first_not_of('a'), big) << "the cut buffer was interrupted";
    EXPECT_EQ(got.substr(big), "HIGHsecond low");
}

// The high-water mark is the server's option: a 64 KB mark warns at 64 KB (then 128, 256...),
// long before the default 1 MB, and the drained warning still follows.
TEST(FlowWarningMarkTest, ConfiguredMarkWarnsAtItsSizeAndDrains) {
    EventSink sink;
    SocketServerOptions options;
    options.warning_bytes = 64 * 1024;
    SocketServer server{sink, options};
    ASSERT_TRUE(server.start().ok());
    const Handle svc{1};
    auto l = server.listen(svc, "127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    server.start(l->id);
    int client = connect_local(l->port);
    ASSERT_GE(client, 0);
    auto a = sink.next_of(svc, SocketEventType::accepted);
    ASSERT_TRUE(a);
    const int32_t id = a->ud();

    // 16 MB in 16 KB pieces to a client that reads nothing: far past the kernel's buffers.
    const size_t total = 16u << 20, piece = 16 * 1024;
    for (size_t off = 0; off < total; off += piece) {
        Payload p = Payload::allocate(piece);
        std::memset(p.data(), 'w', piece);
        ASSERT_TRUE(server.send(id, std::move(p)));
    }
    std::vector<int32_t> warnings;
    while (warnings.empty() || warnings.back() < 1024) {
        auto w = sink.next_of(svc, SocketEventType::warning);
        ASSERT_TRUE(w) << "warnings so far: " << warnings.size();
        warnings.push_back(w->ud());
    }
    ASSERT_GE(warnings.size(), 2u);
    EXPECT_GE(warnings[0], 64);
    EXPECT_LT(warnings[0], 64 + 16) << "the first warning comes at the configured mark";
    for (size_t k = 1; k < warnings.size(); ++k)
        EXPECT_GE(warnings[k], 64 << k) << "warning " << k;

    std::vector<char> buf(1 << 20);
    for (size_t got = 0; got < total;) {
        ssize_t r = ::recv(client, buf.data(), buf.size(), 0);
        ASSERT_GT(r, 0) << "after " << got << " bytes";
        got += size_t(r);
    }
    std::optional<int32_t> last;
    while (!last || *last != 0) {
        auto w = sink.next_of(svc, SocketEventType::warning);
        ASSERT_TRUE(w) << "no drained warning";
        last = w->ud();
    }
    ::close(client);
}

// A mark set for one socket overrides the server's: 32 KB here, under the default 1 MB.
TEST_F(FlowTest, OneSocketsOwnMarkWarnsAtItsSize) {
    server.set_warning_mark(id, 32);
    const size_t total = 8u << 20, piece = 8 * 1024;
    for (size_t off = 0; off < total; off += piece) {
        Payload p = Payload::allocate(piece);
        std::memset(p.data(), 'm', piece);
        ASSERT_TRUE(server.send(id, std::move(p)));
    }
    auto w = sink.next_of(svc, SocketEventType::warning);
    ASSERT_TRUE(w);
    EXPECT_GE(w->ud(), 32);
    EXPECT_LT(w->ud(), 32 + 8) << "the first warning comes at this socket's mark";
    auto next = sink.next_of(svc, SocketEventType::warning);
    ASSERT_TRUE(next);
    EXPECT_GE(next->ud(), 64) << "then at its doubling";
}

TEST(FlowWarningMarkTest, MarkBelowOneKilobyteIsRefused) {
    EventSink sink;
    SocketServerOptions options;
    options.warning_bytes = 512;
    SocketServer server{sink, options};
    auto started = server.start();
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.error().message.find("warning_bytes must be at least 1024, not 512"),
              std::string::npos)
        << started.error().message;
}

}  // namespace
}  // namespace skyhive::net
