#include "redis/command.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <random>
#include <string>
#include <vector>

namespace skyhive::redis {
namespace {

using namespace std::string_literals;

// Parses RESP requests back with hiredis's stock reader (a request is a multibulk of bulks).
std::vector<std::vector<std::string>> parse_requests(std::string_view bytes) {
    redisReader* r = redisReaderCreate();
    EXPECT_EQ(redisReaderFeed(r, bytes.data(), bytes.size()), REDIS_OK);
    std::vector<std::vector<std::string>> out;
    for (;;) {
        void* reply = nullptr;
        EXPECT_EQ(redisReaderGetReply(r, &reply), REDIS_OK) << r->errstr;
        if (!reply) break;
        auto* rep = static_cast<redisReply*>(reply);
        EXPECT_EQ(rep->type, REDIS_REPLY_ARRAY);
        std::vector<std::string> args;
        for (size_t i = 0; i < rep->elements; ++i) {
            EXPECT_EQ(rep->element[i]->type, REDIS_REPLY_STRING);
            args.emplace_back(rep->element[i]->str, rep->element[i]->len);
        }
        out.push_back(std::move(args));
        freeReplyObject(reply);
    }
    // Nothing may be left over: every request must be complete.
    EXPECT_EQ(r->len - r->pos, 0u);
    redisReaderFree(r);
    return out;
}

TEST(Command, FormatsAMultibulkRequest) {
    std::string_view argv[] = {"SET", "key", "value"};
    EXPECT_EQ(format_command(argv), "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
}

TEST(Command, BinaryAndEmptyArgumentsRoundTrip) {
    std::string binary = "a\0\r\n\xff"s;
    std::string big(100000, 'z');
    std::vector<std::string_view> argv = {"SET", binary, "", big};
    auto parsed = parse_requests(format_command(argv));
    ASSERT_EQ(parsed.size(), 1u);
    EXPECT_EQ(parsed[0], (std::vector<std::string>{"SET", binary, "", big}));
}

TEST(Command, BufferCoalescesManyCommandsIntoOneWrite) {
    CommandBuffer buf;
    std::vector<std::vector<std::string>> expected;
    for (int i = 0; i < 50; ++i) {
        // More arguments than the formatter's inline arrays hold, every few commands.
        std::vector<std::string> args = {"RPUSH", "list" + std::to_string(i)};
        for (int j = 0; j < (i % 5) * 10; ++j)
            args.push_back(std::to_string(i * 1000 + j));
        std::vector<std::string_view> views(args.begin(), args.end());
        ASSERT_TRUE(buf.append(views).ok());
        expected.push_back(std::move(args));
    }
    EXPECT_EQ(buf.count(), 50u);
    EXPECT_EQ(parse_requests(buf.view()), expected);

    size_t size = buf.size();
    Payload p = buf.take();
    EXPECT_EQ(p.size(), size);
    EXPECT_EQ(parse_requests(p.view()), expected);
    EXPECT_TRUE(buf.empty());
    EXPECT_EQ(buf.count(), 0u);
    EXPECT_TRUE(buf.take().empty());

    // Still usable after handing its bytes over.
    ASSERT_TRUE(buf.append({"PING"}).ok());
    EXPECT_EQ(buf.view(), "*1\r\n$4\r\nPING\r\n");
    buf.clear();
    EXPECT_TRUE(buf.empty());
}

// The encoder writes the bytes hiredis's own formatter writes, for argument counts and lengths
// around every digit boundary and random binary contents.
TEST(Command, BytesEqualHiredisFormatter) {
    std::mt19937 rng(7);
    const size_t boundaries[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000, 100000};
    CommandBuffer all;
    std::string expected_all;
    for (int round = 0; round < 400; ++round) {
        int argc = 1 + int(rng() % (round % 10 == 0 ? 120 : 12));
        std::vector<std::string> args;
        for (int i = 0; i < argc; ++i) {
            size_t len = rng() % 3 == 0 ? boundaries[rng() % std::size(boundaries)] : rng() % 40;
            std::string a(len, '\0');
            for (auto& c : a)
                c = char(rng());
            args.push_back(std::move(a));
        }
        std::vector<const char*> ptrs;
        std::vector<size_t> lens;
        for (auto& a : args) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        sds ref = nullptr;
        int n = redisFormatSdsCommandArgv(&ref, argc, ptrs.data(), lens.data());
        ASSERT_GT(n, 0);
        std::string want(ref, size_t(n));
        redisFreeSdsCommand(ref);

        CommandBuffer one;
        ASSERT_TRUE(one.append(argc, ptrs.data(), lens.data()).ok());
        ASSERT_EQ(one.view(), want) << "round " << round << ", " << argc << " arguments";
        ASSERT_TRUE(all.append(argc, ptrs.data(), lens.data()).ok());
        expected_all += want;
    }
    EXPECT_EQ(all.view(), expected_all);
    EXPECT_EQ(all.count(), 400u);
}

// The word-at-a-time form writes the same bytes as append, and a failed command is undone by
// truncating to what was read before it.
TEST(Command, BeginAddCommitEqualsAppend) {
    std::mt19937 rng(11);
    CommandBuffer whole, walked;
    for (int round = 0; round < 200; ++round) {
        int argc = 1 + int(rng() % (round % 10 == 0 ? 40 : 6));
        std::vector<std::string> args;
        for (int i = 0; i < argc; ++i) {
            std::string a(rng() % (round % 7 == 0 ? 300 : 20), '\0');
            for (auto& c : a)
                c = char(rng());
            args.push_back(std::move(a));
        }
        std::vector<std::string_view> views(args.begin(), args.end());
        ASSERT_TRUE(whole.append(views).ok());
        ASSERT_TRUE(walked.begin(args.size()));
        for (auto& a : args)
            ASSERT_TRUE(walked.add(a.data(), a.size()));
        walked.commit();
        if (round % 3 == 0) {
            // Half a command, then undone.
            size_t size = walked.size();
            uint32_t count = walked.count();
            ASSERT_TRUE(walked.begin(3));
            ASSERT_TRUE(walked.add("x", 1));
            walked.truncate(size, count);
        }
    }
    EXPECT_EQ(walked.view(), whole.view());
    EXPECT_EQ(walked.count(), 200u);
    EXPECT_EQ(parse_requests(walked.view()).size(), 200u);
    EXPECT_FALSE(walked.begin(0));

    // After a take() the next payload starts with the room the last one needed; its bytes are
    // unaffected.
    Payload first = walked.take();
    ASSERT_TRUE(walked.append({"PING"}).ok());
    EXPECT_EQ(walked.view(), "*1\r\n$4\r\nPING\r\n");
}

TEST(Command, EncodedCommandsAreAppendedAsTheyAreAndCounted) {
    // A pipeline built ahead in a buffer of its own, then appended behind a command already in
    // the connection's buffer: the bytes follow it unchanged and the count covers both.
    CommandBuffer built;
    ASSERT_TRUE(built.append({"SET", "k", "v"}).ok());
    ASSERT_TRUE(built.append({"GET", "k"}).ok());
    CommandBuffer conn;
    ASSERT_TRUE(conn.append({"PING"}).ok());
    ASSERT_TRUE(conn.append_encoded(built.view(), built.count()));
    EXPECT_EQ(conn.count(), 3u);
    auto parsed = parse_requests(conn.view());
    ASSERT_EQ(parsed.size(), 3u);
    EXPECT_EQ(parsed[1], (std::vector<std::string>{"SET", "k", "v"}));
    EXPECT_EQ(parsed[2], (std::vector<std::string>{"GET", "k"}));
    // Taken and written, the next tick's buffer starts empty again.
    Payload p = conn.take();
    EXPECT_EQ(std::string_view(static_cast<const char*>(p.data()), p.size()),
              "*1\r\n$4\r\nPING\r\n"s + std::string(built.view()));
    EXPECT_EQ(conn.count(), 0u);
}

TEST(Command, EmptyCommandIsAnError) {
    CommandBuffer buf;
    auto r = buf.append(std::span<const std::string_view>());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "redis command without a name");
    EXPECT_TRUE(buf.empty());
}

}  // namespace
}  // namespace skyhive::redis
