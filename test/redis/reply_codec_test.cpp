#include "redis/reply_codec.h"

#include <gtest/gtest.h>

#include <climits>
#include <string>

#include "test/redis/reply_text.h"

namespace skyhive::redis {
namespace {

using testing::render;

std::string bytes(const ReplyWriter& w) {
    return std::string(w.data(), w.size());
}

TEST(ReplyCodec, WriterAndCursorRoundTripEveryTag) {
    ReplyWriter w;
    ASSERT_TRUE(w.put_string(ReplyTag::status, "OK", 2));
    ASSERT_TRUE(w.put_string(ReplyTag::error, "ERR no", 6));
    ASSERT_TRUE(w.put_integer(LLONG_MIN));
    ASSERT_TRUE(w.put_integer(LLONG_MAX));
    ASSERT_TRUE(w.put_string(ReplyTag::bulk, "a\0b", 3));
    ASSERT_TRUE(w.put_string(ReplyTag::bulk, "", 0));
    ASSERT_TRUE(w.put_nil());
    ASSERT_TRUE(w.put_array(2));
    ASSERT_TRUE(w.put_integer(-1));
    ASSERT_TRUE(w.put_array(0));
    EXPECT_EQ(render(bytes(w)),
              "+OK, -ERR no, :-9223372036854775808, :9223372036854775807, $\"a\\x00b\", $\"\", "
              "nil, [:-1 []]");
    uint32_t count = 0;
    EXPECT_TRUE(validate_replies(bytes(w), &count));
    EXPECT_EQ(count, 8u);
}

// The values of a payload take_front gave, after `headroom` bytes that must be zero.
std::string_view after_headroom(const Payload& p, size_t headroom) {
    EXPECT_GE(p.size(), headroom);
    EXPECT_EQ(p.view().substr(0, headroom), std::string(headroom, '\0'));
    return p.view().substr(headroom);
}

TEST(ReplyCodec, TakeFrontKeepsTheUnfinishedTail) {
    for (size_t headroom : {0, 16})
        for (int tail_items : {1, 40}) {  // tail shorter and longer than the head: both copies
            ReplyWriter w(headroom);
            ASSERT_TRUE(w.put_string(ReplyTag::bulk, "done", 4));
            size_t head = w.size();
            ASSERT_TRUE(w.put_array(100));
            for (int i = 0; i < tail_items; ++i)
                ASSERT_TRUE(w.put_integer(i));
            std::string tail = bytes(w).substr(head);
            Payload p = w.take_front(head);
            EXPECT_EQ(p.size(), headroom + head);
            EXPECT_EQ(render(after_headroom(p, headroom)), "$\"done\"");
            EXPECT_EQ(bytes(w), tail);
            // The writer keeps working after the split, and the next payload has its headroom.
            ASSERT_TRUE(w.put_nil());
            EXPECT_EQ(bytes(w), tail + "_");
            w.drop_front(tail.size());
            EXPECT_EQ(bytes(w), "_");
            ASSERT_TRUE(w.put_integer(5));
            p = w.take_front(w.size());
            EXPECT_EQ(render(after_headroom(p, headroom)), "nil, :5");
            EXPECT_EQ(w.size(), 0u);
        }
}

TEST(ReplyCodec, TakeFrontOfEverythingHandsOverTheBuffer) {
    for (size_t headroom : {0, 16}) {
        ReplyWriter w(headroom);
        EXPECT_EQ(w.size(), 0u);
        ASSERT_TRUE(w.put_integer(7));
        EXPECT_EQ(w.size(), 9u);
        const char* before = w.data();
        Payload p = w.take_front(w.size());
        EXPECT_EQ(p.data() + headroom, before);
        EXPECT_EQ(render(after_headroom(p, headroom)), ":7");
        EXPECT_EQ(w.size(), 0u);
        EXPECT_TRUE(w.take_front(0).empty());
        w.clear();
        ASSERT_TRUE(w.put_nil());
        w.clear();
        EXPECT_EQ(w.size(), 0u);
        ASSERT_TRUE(w.put_integer(8));
        EXPECT_EQ(render(after_headroom(w.take_front(w.size()), headroom)), ":8");
    }
}

TEST(ReplyCodec, CursorRejectsTruncatedAndUnknownValues) {
    ReplyWriter w;
    ASSERT_TRUE(w.put_string(ReplyTag::bulk, "hello", 5));
    std::string whole = bytes(w);
    for (size_t cut = 1; cut < whole.size(); ++cut) {
        EXPECT_FALSE(validate_replies(whole.substr(0, cut), nullptr)) << "cut at " << cut;
    }
    EXPECT_FALSE(validate_replies("?", nullptr));
    EXPECT_FALSE(validate_replies(std::string(":") + std::string(7, '\0'), nullptr));
    // A length that points past the end must not be trusted.
    std::string lying = "$";
    uint32_t huge = 0xffffffffu;
    lying.append(reinterpret_cast<const char*>(&huge), 4);
    lying += "abc";
    EXPECT_FALSE(validate_replies(lying, nullptr));
}

TEST(ReplyCodec, ValidateRequiresCompleteArraysAndBoundsDepth) {
    ReplyWriter w;
    ASSERT_TRUE(w.put_array(2));
    ASSERT_TRUE(w.put_nil());
    EXPECT_FALSE(validate_replies(bytes(w), nullptr));
    ASSERT_TRUE(w.put_nil());
    EXPECT_TRUE(validate_replies(bytes(w), nullptr));

    ReplyWriter deep;
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(deep.put_array(1));
    ASSERT_TRUE(deep.put_nil());
    EXPECT_TRUE(validate_replies(bytes(deep), nullptr, 5));
    EXPECT_FALSE(validate_replies(bytes(deep), nullptr, 4));
}

}  // namespace
}  // namespace skyhive::redis
