#include "redis/resp_framer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test/redis/reply_text.h"

namespace skyhive::redis {
namespace {

using namespace std::string_literals;
using testing::render;

// The replies of a payload take() gave: after the headroom the socket thread writes its event
// header into, which the framer leaves zeroed.
std::string_view frames(const Payload& p) {
    if (p.empty()) return {};
    EXPECT_GE(p.size(), net::Framer::kHeadroom);
    EXPECT_EQ(p.view().substr(0, net::Framer::kHeadroom),
              std::string(net::Framer::kHeadroom, '\0'));
    return p.view().substr(net::Framer::kHeadroom);
}

// What a framer made of an input: the replies (rendered), how many, and the error, if any.
struct Outcome {
    std::string replies;
    uint32_t count = 0;
    std::string error;
};

// Feeds `input` in pieces whose sizes `next_size()` picks, taking the frames after every feed.
template <class NextSize>
Outcome run_pieces(std::string_view input, NextSize next_size, RespLimits limits = {}) {
    std::unique_ptr<net::Framer> framer = std::make_unique<RespFramer>(limits);
    Outcome o;
    std::string all;
    size_t pos = 0;
    do {
        size_t n = std::min(next_size(), input.size() - pos);
        auto r = framer->feed(input.data() + pos, n);
        pos += n;
        uint32_t count = 0;
        Payload p = framer->take(&count);
        EXPECT_EQ(p.empty(), count == 0);
        all.append(frames(p));
        o.count += count;
        if (!r.ok()) {
            o.error = r.error().message;
            break;
        }
    } while (pos < input.size());
    o.replies = render(all);
    return o;
}

Outcome run(std::string_view input, size_t chunk, RespLimits limits = {}) {
    return run_pieces(
        input, [chunk] { return chunk; }, limits);
}

Outcome run_whole(std::string_view input, RespLimits limits = {}) {
    return run(input, std::max<size_t>(input.size(), 1), limits);
}

// One of every kind of reply, nested arrays with nil holes, binary bulk values.
const std::string kMixed =
    "+OK\r\n"
    "-ERR unknown command 'FOO'\r\n"
    ":0\r\n:-42\r\n:9223372036854775807\r\n:-9223372036854775808\r\n"
    "$0\r\n\r\n"
    "$5\r\nhello\r\n"
    "$7\r\na\0b\r\nc\0\r\n"s
    "$-1\r\n"
    "*-1\r\n"
    "*0\r\n"
    "*3\r\n$1\r\na\r\n:1\r\n*3\r\n$-1\r\n+x\r\n-WRONGTYPE bad\r\n"
    "*2\r\n*0\r\n*1\r\n*-1\r\n";

const char* kMixedRendered =
    "+OK, -ERR unknown command 'FOO', :0, :-42, :9223372036854775807, :-9223372036854775808, "
    "$\"\", $\"hello\", $\"a\\x00b\\x0d\\x0ac\\x00\", nil, nil, [], [$\"a\" :1 [nil +x "
    "-WRONGTYPE bad]], [[] [nil]]";

TEST(RespFramer, EveryReplyType) {
    Outcome o = run_whole(kMixed);
    EXPECT_EQ(o.error, "");
    EXPECT_EQ(o.replies, kMixedRendered);
    EXPECT_EQ(o.count, 14u);
}

TEST(RespFramer, OneByteAtATimeGivesTheSameReplies) {
    Outcome o = run(kMixed, 1);
    EXPECT_EQ(o.error, "");
    EXPECT_EQ(o.replies, kMixedRendered);
    EXPECT_EQ(o.count, 14u);
}

TEST(RespFramer, EverySplitPointGivesTheSameReplies) {
    for (size_t cut = 0; cut <= kMixed.size(); ++cut) {
        bool first = true;
        Outcome o = run_pieces(kMixed, [&] {
            size_t n = first ? cut : kMixed.size();
            first = false;
            return n;
        });
        EXPECT_EQ(o.replies, kMixedRendered) << "split at byte " << cut;
        EXPECT_EQ(o.count, 14u) << "split at byte " << cut;
    }
}

// Whole replies in one feed take the framer's own path for simple replies (status, error,
// integer, bulk, nil). The same bytes fed as one byte and then the rest go through hiredis
// alone (it holds a part of the first reply, so the framer's path stays out). Both must agree on
// the replies and on the error text, for forms at the edge of what that path takes.
TEST(RespFramer, SimpleRepliesAgreeWithHiredisAlone) {
    const RespLimits limits{.max_bulk = 16, .max_elements = 8};
    const std::vector<std::string> inputs = {
        ":0\r\n:-1\r\n:123456789012345678\r\n:-123456789012345678\r\n",
        ":1234567890123456789\r\n:9223372036854775807\r\n:-9223372036854775808\r\n",
        ":012\r\n",
        ":-0\r\n",
        ":+5\r\n",
        ":\r\n",
        ":-\r\n",
        ":12a\r\n",
        ":1\rx\n",
        "+\r\n-\r\n+OK\r\n-ERR x y\r\n",
        "+a\rb\r\n+c\r\n",
        "-a\nb\r\n",
        "+0123456789abcdef\r\n",
        "+0123456789abcdefg\r\n",
        "$0\r\n\r\n$3\r\nabc\r\n$-1\r\n",
        "$3\r\nabcXY+OK\r\n",
        "$-2\r\n",
        "$03\r\nabc\r\n",
        "$16\r\n0123456789abcdef\r\n",
        "$17\r\n0123456789abcdefg\r\n",
        "$-0\r\n",
        "$+3\r\nabc\r\n",
        "+OK\r\n*2\r\n:1\r\n$1\r\nx\r\n:7\r\n",
        "$2\r\na\r\r\n",
        "$1\r\n\r\r\n",
        "+OK\r\n?\r\n",
        "$4\r\nab\0c\r\n:5\r\n"s,
    };
    for (const std::string& in : inputs) {
        Outcome whole = run_whole(in, limits);
        bool first = true;
        Outcome bytes = run_pieces(
            in,
            [&] {
                size_t n = first ? 1 : in.size();
                first = false;
                return n;
            },
            limits);
        EXPECT_EQ(whole.replies, bytes.replies) << ::testing::PrintToString(in);
        EXPECT_EQ(whole.count, bytes.count) << ::testing::PrintToString(in);
        EXPECT_EQ(whole.error, bytes.error) << ::testing::PrintToString(in);
    }
}

TEST(RespFramer, TakeReturnsOnlyWholeReplies) {
    RespFramer f;
    uint32_t count = 99;
    EXPECT_TRUE(f.take(&count).empty());
    EXPECT_EQ(count, 0u);

    std::string_view first = "+OK\r\n*2\r\n:1\r\n$3\r\nab";
    ASSERT_TRUE(f.feed(first.data(), first.size()).ok());
    Payload p = f.take(&count);
    EXPECT_EQ(count, 1u);
    EXPECT_EQ(render(frames(p)), "+OK");
    EXPECT_TRUE(f.take(&count).empty());
    EXPECT_EQ(count, 0u);

    ASSERT_TRUE(f.feed("c\r\n", 3).ok());
    p = f.take(&count);
    EXPECT_EQ(count, 1u);
    EXPECT_EQ(render(frames(p)), "[:1 $\"abc\"]");
}

TEST(RespFramer, ManyRepliesInOneFeed) {
    std::string input;
    std::string expected;
    constexpr int kPairs = 20000;
    for (int i = 0; i < kPairs; ++i) {
        input += "+OK\r\n:" + std::to_string(i) + "\r\n";
        expected += (i ? ", " : "") + "+OK, :"s + std::to_string(i);
    }
    Outcome o = run_whole(input);
    EXPECT_EQ(o.error, "");
    EXPECT_EQ(o.count, 2u * kPairs);
    EXPECT_EQ(o.replies, expected);
}

TEST(RespFramer, NestingUpToHiredisLimit) {
    std::string eight;
    for (int i = 0; i < 8; ++i)
        eight += "*1\r\n";
    Outcome ok = run_whole(eight + ":1\r\n");
    EXPECT_EQ(ok.error, "");
    EXPECT_EQ(ok.replies, "[[[[[[[[:1]]]]]]]]");

    Outcome deep = run_whole("*1\r\n" + eight + ":1\r\n");
    EXPECT_EQ(
        deep.error,
        "malformed RESP from server: No support for nested multi bulk replies with depth > 7");
}

TEST(RespFramer, LargeBulkInRandomChunks) {
    constexpr size_t kSize = 64u << 20;
    // Blocks of one pseudo-random pattern (with zero bytes and CRLFs), each stamped with its index,
    // so that a lost, repeated or misplaced piece shows.
    std::string block(4096, '\0');
    for (size_t i = 0; i < block.size(); ++i)
        block[i] = char((i * 131) ^ (i >> 3));
    std::string input = "$" + std::to_string(kSize) + "\r\n";
    size_t value_at = input.size();
    input.reserve(value_at + kSize + 16);
    for (size_t b = 0; b < kSize / block.size(); ++b) {
        std::memcpy(block.data(), &b, sizeof b);
        input += block;
    }
    input += "\r\n+after\r\n";
    std::string_view value(input.data() + value_at, kSize);

    std::mt19937 rng(12345);
    std::uniform_int_distribution<size_t> size(1, 256 << 10);
    RespFramer f;
    std::vector<std::string> replies;  // rendered, except the big one
    bool big_ok = false;
    for (size_t pos = 0; pos < input.size();) {
        size_t n = std::min(size(rng), input.size() - pos);
        ASSERT_TRUE(f.feed(input.data() + pos, n).ok());
        pos += n;
        uint32_t count = 0;
        Payload p = f.take(&count);
        ReplyCursor cur(frames(p));
        ReplyItem item;
        while (cur.next(item)) {
            if (item.tag == ReplyTag::bulk && item.str.size() == kSize) {
                big_ok = item.str == value;
                replies.push_back("<big>");
            } else {
                replies.push_back(item.tag == ReplyTag::status ? "+" + std::string(item.str) : "?");
            }
            --count;
        }
        EXPECT_TRUE(cur.at_end());
        EXPECT_EQ(count, 0u);
    }
    EXPECT_EQ(replies, (std::vector<std::string>{"<big>", "+after"}));
    EXPECT_TRUE(big_ok) << "64 MB bulk value differs";
}

// hiredis releases a big idle buffer only when it is empty at the next feed; with a partial
// reply always pending (a busy connection) the framer must shrink it itself.
TEST(RespFramer, ReaderBufferShrinksAfterALargeReply) {
    constexpr size_t kSize = 4u << 20;
    std::string input = "$" + std::to_string(kSize) + "\r\n" + std::string(kSize, 'v') + "\r\n+pa";
    RespFramer f;
    // The end of the bulk and the start of the next reply arrive in one read.
    size_t split = input.size() - 20;
    ASSERT_TRUE(f.feed(input.data(), split).ok());
    ASSERT_TRUE(f.feed(input.data() + split, input.size() - split).ok());
    ASSERT_TRUE(f.feed("rt", 2).ok());
    uint32_t count = 0;
    Payload p = f.take(&count);
    EXPECT_EQ(count, 1u);
    EXPECT_LT(f.reader().buffered_capacity(), size_t(1) << 20);
    ASSERT_TRUE(f.feed("ial\r\n", 5).ok());
    p = f.take(&count);
    EXPECT_EQ(render(frames(p)), "+partial");
}

TEST(RespFramer, MalformedInputGivesAClearError) {
    struct Case {
        std::string input;
        std::string error;
    };
    const Case cases[] = {
        {"x", "malformed RESP from server: Protocol error, got \"x\" as reply type byte"},
        {":abc\r\n", "malformed RESP from server: Bad integer value"},
        {"$abc\r\n", "malformed RESP from server: Bad bulk string length"},
        {"$-2\r\n", "malformed RESP from server: Bulk string length out of range"},
        {"*-2\r\n", "malformed RESP from server: Multi-bulk length out of range"},
        {"$3\r\nfooXY+OK\r\n", "malformed RESP from server: bulk of 3 bytes not followed by CRLF"},
        {"*2\r\n:1\r\n\x01",
         "malformed RESP from server: Protocol error, got \"\\x01\" as reply type "
         "byte"},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(run_whole(c.input).error, c.error) << c.input;
        EXPECT_EQ(run(c.input, 1).error, c.error) << c.input << " (byte by byte)";
    }
}

TEST(RespFramer, RepliesBeforeTheBadByteSurviveAndTheErrorSticks) {
    RespFramer f;
    auto r = f.feed("+a\r\n:1\r\n?", 9);
    ASSERT_FALSE(r.ok());
    uint32_t count = 0;
    Payload p = f.take(&count);
    EXPECT_EQ(count, 2u);
    EXPECT_EQ(render(frames(p)), "+a, :1");
    auto again = f.feed("+OK\r\n", 5);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().message, r.error().message);
    EXPECT_TRUE(f.take(&count).empty());
}

TEST(RespFramer, BulkLimitIsCheckedFromTheHeaderAlone) {
    RespLimits limits{.max_bulk = 100, .max_elements = 3};
    // Only the header has arrived: the framer must not wait for (and buffer) the body.
    EXPECT_EQ(run_whole("$101\r\n", limits).error,
              "RESP bulk of 101 bytes exceeds the limit of 100");
    EXPECT_EQ(run_whole("*1\r\n$101\r\n" + std::string(101, 'x') + "\r\n", limits).error,
              "RESP bulk of 101 bytes exceeds the limit of 100");
    Outcome at_limit = run("$100\r\n" + std::string(100, 'x') + "\r\n", 7, limits);
    EXPECT_EQ(at_limit.error, "");
    EXPECT_EQ(at_limit.count, 1u);
    // Default limit: Redis's proto-max-bulk-len.
    EXPECT_EQ(run_whole("$536870913\r\n").error,
              "RESP bulk of 536870913 bytes exceeds the limit of 536870912");
    EXPECT_EQ(run_whole("$9999999999999\r\n").error,
              "RESP bulk of 9999999999999 bytes exceeds the limit of 536870912");
}

TEST(RespFramer, ArrayLimit) {
    RespLimits limits{.max_bulk = 100, .max_elements = 3};
    EXPECT_EQ(run_whole("*4\r\n", limits).error, "RESP array of 4 elements exceeds the limit of 3");
    EXPECT_EQ(run_whole("*1\r\n*4\r\n", limits).error,
              "RESP array of 4 elements exceeds the limit of 3");
    EXPECT_EQ(run_whole("*3\r\n:1\r\n:2\r\n:3\r\n", limits).replies, "[:1 :2 :3]");
    EXPECT_EQ(run_whole("*16777217\r\n").error,
              "RESP array of 16777217 elements exceeds the limit of 16777216");
}

TEST(RespFramer, UnterminatedLinesAreBounded) {
    RespLimits limits{.max_bulk = 100, .max_elements = 3};
    std::string line(101, 'a');
    EXPECT_EQ(run("+" + line, 10, limits).error, "RESP line of more than 100 bytes without CRLF");
    EXPECT_EQ(run("-" + std::string(200, 'a') + "\r\n", 10, limits).error,
              "RESP line of more than 100 bytes without CRLF");
    EXPECT_EQ(run_whole("-" + line + "\r\n", limits).error,
              "RESP line of 101 bytes exceeds the limit of 100");
    // Exactly at the limit, with the CR arriving before the LF.
    std::string full = "+" + std::string(100, 'a') + "\r\n";
    EXPECT_EQ(run(full, 101, limits).replies, "+" + std::string(100, 'a'));
    EXPECT_EQ(run(full, 10, limits).replies, "+" + std::string(100, 'a'));
}

}  // namespace
}  // namespace skyhive::redis
