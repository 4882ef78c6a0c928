// core/status_board.*: topics of keys with bounded size, the least recently published key dropped
// first and counted.
#include "core/status_board.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace skyhive {
namespace {

std::vector<std::string> keys(const StatusBoard& board, std::string_view topic) {
    std::vector<std::string> out;
    for (auto& [k, v] : board.read(topic))
        out.push_back(k);
    return out;
}

TEST(StatusBoard, PublishReplaceRemove) {
    StatusBoard board;
    ASSERT_TRUE(board.publish("locks", "a", std::string("1")).ok());
    ASSERT_TRUE(board.publish("locks", "b", std::string("2")).ok());
    ASSERT_TRUE(board.publish("locks", "a", std::string("3")).ok());
    auto entries = board.read("locks");
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0], (std::pair<std::string, std::string>("b", "2")));
    EXPECT_EQ(entries[1], (std::pair<std::string, std::string>("a", "3")));
    ASSERT_TRUE(board.publish("locks", "a", std::nullopt).ok());
    EXPECT_EQ(keys(board, "locks"), std::vector<std::string>{"b"});
    ASSERT_TRUE(board.publish("locks", "nothing", std::nullopt).ok());
    EXPECT_TRUE(board.read("unknown").empty());
}

TEST(StatusBoard, AFullTopicDropsTheLeastRecentlyPublishedKey) {
    StatusBoard board(3);
    for (const char* k : {"a", "b", "c"})
        ASSERT_TRUE(board.publish("t", k, std::string(k)).ok());
    ASSERT_TRUE(board.publish("t", "a", std::string("again")).ok());  // a is newest now
    ASSERT_TRUE(board.publish("t", "d", std::string("d")).ok());
    EXPECT_EQ(keys(board, "t"), (std::vector<std::string>{"c", "a", "d"}));
    auto dropped = board.dropped();
    ASSERT_EQ(dropped.size(), 1u);
    EXPECT_EQ(dropped[0], (std::pair<std::string, uint64_t>("t", 1)));
}

TEST(StatusBoard, BoundsOnTopicsAndValueSize) {
    StatusBoard board(10, 2);
    ASSERT_TRUE(board.publish("one", "k", std::string("v")).ok());
    ASSERT_TRUE(board.publish("two", "k", std::string("v")).ok());
    auto third = board.publish("three", "k", std::string("v"));
    ASSERT_FALSE(third.ok());
    EXPECT_EQ(third.error().message, "status board: cannot add topic three: 2 topics exist");
    auto big = board.publish("one", "k", std::string(StatusBoard::kMaxValueBytes + 1, 'x'));
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.error().message,
              "status board: the value of one/k takes 65537 bytes, more than 65536");
}

TEST(StatusBoard, ConcurrentPublishersStayWithinTheBound) {
    StatusBoard board(100);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5000; ++i)
                ASSERT_TRUE(
                    board.publish("t", std::to_string(t) + ":" + std::to_string(i), "v").ok());
        });
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(board.read("t").size(), 100u);
    EXPECT_EQ(board.dropped()[0].second, 4u * 5000 - 100);
}

}  // namespace
}  // namespace skyhive
