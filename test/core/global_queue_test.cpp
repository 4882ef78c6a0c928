// GlobalQueue: a FIFO of mailboxes linked through Mailbox::next. Order, and no mailbox lost or
// doubled when several threads push and pop at once.
#include "core/global_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "test/core/test_support.h"

namespace skyhive::test {
namespace {

TEST(GlobalQueue, PopsInPushOrder) {
    GlobalQueue q;
    std::vector<std::unique_ptr<Mailbox>> boxes;
    for (int i = 0; i < 5; ++i)
        boxes.push_back(std::make_unique<Mailbox>());
    EXPECT_EQ(q.pop(), nullptr);
    for (auto& b : boxes)
        q.push(b.get());
    EXPECT_EQ(q.size(), 5u);
    for (auto& b : boxes)
        EXPECT_EQ(q.pop(), b.get());
    EXPECT_EQ(q.pop(), nullptr);
    EXPECT_EQ(q.size(), 0u);
    q.push(boxes[2].get());  // a popped mailbox can be queued again
    EXPECT_EQ(q.pop(), boxes[2].get());
}

// Each thread owns a set of mailboxes and cycles them through the shared queue (a mailbox is in
// it at most once, as the scheduler guarantees); every pop must return a queued mailbox, and at
// the end each one has come back exactly as often as it went in.
TEST(GlobalQueue, ConcurrentPushPopLosesNothing) {
    constexpr int kThreads = 4, kPerThread = 64;
    const int rounds = kSanitized ? 2'000 : 20'000;
    GlobalQueue q;
    std::vector<std::unique_ptr<Mailbox>> boxes;
    for (int i = 0; i < kThreads * kPerThread; ++i)
        boxes.push_back(std::make_unique<Mailbox>());
    std::vector<std::atomic<int>> in_queue(boxes.size());
    auto index_of = [&](Mailbox* mb) {
        for (size_t i = 0; i < boxes.size(); ++i)
            if (boxes[i].get() == mb) return i;
        return boxes.size();
    };
    std::atomic<int> errors{0};
    std::atomic<long> pushes{0}, pops{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            std::vector<Mailbox*> held;
            for (int i = 0; i < kPerThread; ++i)
                held.push_back(boxes[size_t(t * kPerThread + i)].get());
            for (int r = 0; r < rounds; ++r) {
                if (!held.empty() && (r % 3 != 2)) {
                    Mailbox* mb = held.back();
                    held.pop_back();
                    if (in_queue[index_of(mb)].fetch_add(1) != 0) errors++;
                    q.push(mb);
                    pushes++;
                } else if (Mailbox* mb = q.pop()) {
                    size_t i = index_of(mb);
                    if (i == boxes.size() || in_queue[i].fetch_sub(1) != 1) errors++;
                    held.push_back(mb);
                    pops++;
                }
            }
        });
    for (auto& t : threads)
        t.join();
    size_t left = 0;
    while (Mailbox* mb = q.pop()) {
        size_t i = index_of(mb);
        ASSERT_LT(i, boxes.size());
        EXPECT_EQ(in_queue[i].fetch_sub(1), 1);
        ++left;
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(long(left), pushes.load() - pops.load());
    for (auto& n : in_queue)
        EXPECT_EQ(n.load(), 0);
}

}  // namespace
}  // namespace skyhive::test
