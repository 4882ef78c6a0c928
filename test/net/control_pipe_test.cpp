// The socket thread's command pipe: whole commands in order, and a reader that takes only what
// was written before it started, however fast writers keep writing.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <thread>

#include "net/control_pipe.h"

namespace skyhive::net {
namespace {

Command numbered(uint32_t i) {
    Command c{};
    c.type = CommandType::pause;
    c.handle = i;
    return c;
}

TEST(ControlPipe, ReadWrittenTakesEveryCommandThereInOrder) {
    ControlPipe pipe;
    ASSERT_TRUE(pipe.open());
    for (uint32_t i = 1; i <= 200; ++i)
        pipe.write(numbered(i));
    std::deque<Command> into;
    Command batch[64];
    EXPECT_EQ(pipe.read_written(into, batch, 64), 200u);
    ASSERT_EQ(into.size(), 200u);
    for (uint32_t i = 0; i < 200; ++i)
        EXPECT_EQ(into[i].handle, i + 1);
    EXPECT_FALSE(pipe.maybe_unread());
    EXPECT_EQ(pipe.read_written(into, batch, 64), 0u) << "nothing left";
}

TEST(ControlPipe, ReadWrittenKeepsOrderWhileAWriterFloods) {
    ControlPipe pipe;
    ASSERT_TRUE(pipe.open());
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        // Writes as fast as it can; blocks only while the pipe is full.
        for (uint32_t i = 1; !stop.load(std::memory_order_relaxed); ++i)
            pipe.write(numbered(i));
    });
    while (!pipe.maybe_unread())
        std::this_thread::yield();
    std::deque<Command> into;
    Command batch[64];
    // Each call returns (it takes at most what was counted when it began) and the commands
    // come whole and in order across calls.
    for (int round = 0; round < 1000; ++round)
        pipe.read_written(into, batch, 64);
    stop = true;
    while (pipe.read(batch, 64) > 0) {
    }  // a writer blocked on a full pipe goes on, sees stop
    writer.join();
    ASSERT_GT(into.size(), 0u);
    for (size_t i = 0; i < into.size(); ++i)
        ASSERT_EQ(into[i].handle, i + 1) << "whole commands, in order";
}

}  // namespace
}  // namespace skyhive::net
