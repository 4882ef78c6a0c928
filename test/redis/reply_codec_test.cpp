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

TEST(ReplyCodec, TakeFrontKeepsTheUnfinishedTail) {
    for (int tail_items : {1, 40}) {  // tail shorter and longer than the head: both copy paths
        ReplyWriter w;
        ASSERT_TRUE(w.put_string(ReplyTag::bulk, "done", 4));
        size_t head = w.size();
        ASSERT_TRUE(w.put_array(100));
        for (int i = 0; i < tail_items; ++i)
            ASSERT_TRUE(w.put_integer(i));
        std::string tail = bytes(w).substr(head);
        Payload p = w.take_front(head);
        EXPECT_EQ(render(p.view()), "$\"done\"");
        EXPECT_EQ(bytes(w), tail);
        // The writer keeps working after the split.
        ASSERT_TRUE(w.put_nil());
        EXPECT_EQ(bytes(w), tail + "_");
    }
}

TEST(ReplyCodec, TakeFrontOfEverythingHandsOverTheBuffer) {
    ReplyWriter w;
    ASSERT_TRUE(w.put_integer(7));
    const char* before = w.data();
    Payload p = w.take_front(w.size());
    EXPECT_EQ(p.data(), before);
    EXPECT_EQ(w.size(), 0u);
    EXPECT_TRUE(w.take_front(0).empty());
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
