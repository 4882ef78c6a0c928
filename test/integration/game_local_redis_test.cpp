// The README's first command: the default config with no Redis configured starts redis-server
// itself (data under a project folder), says so, plays, and stops it with the node; clear errors
// when it cannot.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "test/integration/game_support.h"
#include "test/support/redis_process.h"

namespace skyhive::test::game {
namespace {

std::string default_with(const TempDir& dir, const std::string& extra) {
    return "include \"" + std::string(SKYHIVE_SOURCE_DIR) +
           "/config/default.lua\"\n"
           "game = \"127.0.0.1:0\"\n"
           "debug_console = \"127.0.0.1:0\"\n"
           "local_redis = \"" +
           dir.file("data/redis") + "\"\n" + extra;
}

// The number after `prefix` in the output, once it appears; 0 if it does not.
int number_after(const Process& p, const std::string& prefix) {
    if (!p.wait_for_output(prefix)) return 0;
    std::string out = p.output();
    return std::atoi(out.c_str() + out.find(prefix) + prefix.size());
}

bool redis_answers(int port) {
    RespClient c(port);
    return c.command({"PING"}).str == "PONG";
}

TEST(GameLocalRedis, StartsItsOwnRedisAndStopsItWithTheNode) {
    TempDir dir;
    dir.write("node.lua", default_with(dir, "local_redis_port = 0\n"));
    int redis_port = 0;
    {
        Process node({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out1.log"),
                     SKYHIVE_SOURCE_DIR);
        redis_port = number_after(node, "started local redis-server on 127.0.0.1:");
        ASSERT_GT(redis_port, 0) << node.output();
        EXPECT_NE(node.output().find("(data in " + dir.file("data/redis") + ")"), std::string::npos)
            << node.output();
        int game_port = number_after(node, "play: telnet 127.0.0.1 ");
        ASSERT_GT(game_port, 0) << node.output();
        Player p(game_port);
        EXPECT_EQ(p.command("login alice secret"),
                  "welcome alice: you are new here and have 100 gold");
        EXPECT_EQ(p.command("say hi"), "you say: hi");
        EXPECT_TRUE(redis_answers(redis_port));
        // Ctrl-C: the players are saved while Redis still runs, then Redis is stopped.
        node.signal(SIGINT);
        EXPECT_EQ(node.wait(), 0) << node.output();
        std::string out = node.output();
        size_t saved = out.find("players saved (0 failed)");
        size_t stopped =
            out.find("stopped local redis-server on 127.0.0.1:" + std::to_string(redis_port) +
                     " (exit code 0)");
        EXPECT_NE(saved, std::string::npos) << out;
        EXPECT_NE(stopped, std::string::npos) << out;
        EXPECT_LT(saved, stopped) << out;
        EXPECT_FALSE(redis_answers(redis_port)) << "redis-server outlived the node";
    }
    EXPECT_TRUE(std::filesystem::exists(dir.file("data/redis/appendonlydir")));

    // The data is there for the next run, on the configured port this time.
    dir.write("node.lua",
              default_with(dir, "local_redis_port = " + std::to_string(free_port()) + "\n"));
    Process node({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out2.log"), SKYHIVE_SOURCE_DIR);
    int again = number_after(node, "started local redis-server on 127.0.0.1:");
    ASSERT_GT(again, 0) << node.output();
    int game_port = number_after(node, "play: telnet 127.0.0.1 ");
    ASSERT_GT(game_port, 0) << node.output();
    Player p(game_port);
    EXPECT_EQ(p.command("login alice secret"),
              "welcome back alice: 100 gold, login #2, 1 lines said");
    // Killed outright, the node still takes its Redis down with it.
    node.signal(SIGKILL);
    node.wait();
    bool gone = false;
    for (auto until = Clock::now() + kDeadline; Clock::now() < until && !gone;) {
        gone = !redis_answers(again);
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(gone) << "redis-server outlived a killed node";
}

TEST(GameLocalRedis, ClearErrorsWhenItCannotStart) {
    TempDir dir;
    // The port already serves another Redis.
    auto other = RedisProcess::start();
    ASSERT_TRUE(other) << other.error().message;
    dir.write(
        "taken.lua",
        default_with(dir, "local_redis_port = " + std::to_string(other.value()->port()) + "\n"));
    Process taken({SKYHIVE_BINARY, dir.file("taken.lua")}, dir.file("taken.log"),
                  SKYHIVE_SOURCE_DIR);
    EXPECT_EQ(taken.wait(), 1);
    EXPECT_NE(taken.output().find("is already taken by a running Redis"), std::string::npos)
        << taken.output();

    // No redis-server on PATH.
    std::string path = std::getenv("PATH");
    ::setenv("PATH", dir.path().c_str(), 1);
    dir.write("nopath.lua", default_with(dir, "local_redis_port = 0\n"));
    Process nopath({SKYHIVE_BINARY, dir.file("nopath.lua")}, dir.file("nopath.log"),
                   SKYHIVE_SOURCE_DIR);
    ::setenv("PATH", path.c_str(), 1);
    EXPECT_EQ(nopath.wait(), 1);
    EXPECT_NE(nopath.output().find("redis-server not found on PATH"), std::string::npos)
        << nopath.output();

    // Neither a Redis nor a local one: the game says what to set.
    dir.write("none.lua", default_with(dir, "local_redis = false\n"));
    Process none({SKYHIVE_BINARY, dir.file("none.lua")}, dir.file("none.log"), SKYHIVE_SOURCE_DIR);
    EXPECT_EQ(none.wait(), 1);
    EXPECT_NE(none.output().find("no Redis configured"), std::string::npos) << none.output();

    // A bad port names the file and line.
    dir.write("badport.lua", default_with(dir, "local_redis_port = 70000\n"));
    Process badport({SKYHIVE_BINARY, dir.file("badport.lua")}, dir.file("badport.log"),
                    SKYHIVE_SOURCE_DIR);
    EXPECT_EQ(badport.wait(), 2);
    EXPECT_NE(badport.output().find("badport.lua:5"), std::string::npos) << badport.output();
}

}  // namespace
}  // namespace skyhive::test::game
