// The skyhive binary as a user runs it: config errors, clean shutdown on signals, log reopening.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>

#include "test/integration/process.h"

namespace skyhive::test {
namespace {

const char* kDemoConfig =
    "thread = 2\n"
    "bootstrap = \"demo 1\"\n";

TEST(NodeProcess, BadConfigNamesFileLineAndKeyAndExitsNonZero) {
    TempDir dir;
    dir.write("bad.lua", "thread = 2\nharbor = 300\n");
    Process p({SKYHIVE_BINARY, dir.file("bad.lua")}, dir.file("out.txt"));
    EXPECT_EQ(p.wait(), 2);
    std::string out = p.output();
    EXPECT_NE(out.find("bad.lua:2"), std::string::npos) << out;
    EXPECT_NE(out.find("harbor"), std::string::npos) << out;
}

// Bad values and unknown keys stop the node before it starts anything: no thread, no redis-server,
// no listener; every problem is named with its file and line.
TEST(NodeProcess, ConfigKeysAreCheckedBeforeAnythingStarts) {
    TempDir dir;
    dir.write("game.lua", "include \"" + std::string(SKYHIVE_SOURCE_DIR) +
                              "/config/default.lua\"\n"
                              "local_redis = \"" +
                              dir.file("redis") +
                              "\"\n"
                              "threads = 8\n"
                              "game_start_gold = -5\n"
                              "redis = \"localhost\"\n");
    Process p({SKYHIVE_BINARY, dir.file("game.lua")}, dir.file("out.txt"), SKYHIVE_SOURCE_DIR);
    EXPECT_EQ(p.wait(), 2);
    std::string out = p.output();
    EXPECT_NE(out.find("game.lua:3: unknown key 'threads' (did you mean 'thread'?)"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("game.lua:4: key 'game_start_gold': expected an integer"), std::string::npos)
        << out;
    EXPECT_NE(
        out.find("game.lua:5: key 'redis': expected \"host:port\", got 'localhost' (no port)"),
        std::string::npos)
        << out;
    EXPECT_EQ(out.find("started"), std::string::npos) << "nothing may start: " << out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("redis"))) << "no redis-server was started";
}

TEST(NodeProcess, MissingConfigAndSyntaxErrorsAreReported) {
    TempDir dir;
    Process missing({SKYHIVE_BINARY, dir.file("nope.lua")}, dir.file("out1.txt"));
    EXPECT_EQ(missing.wait(), 2);
    EXPECT_NE(missing.output().find("nope.lua"), std::string::npos) << missing.output();
    dir.write("syntax.lua", "thread = 2\nthread = = 3\n");
    Process syntax({SKYHIVE_BINARY, dir.file("syntax.lua")}, dir.file("out2.txt"));
    EXPECT_EQ(syntax.wait(), 2);
    EXPECT_NE(syntax.output().find("syntax.lua:2"), std::string::npos) << syntax.output();
}

TEST(NodeProcess, SigtermAndSigintShutDownCleanlyWithExitCodeZero) {
    for (int sig : {SIGTERM, SIGINT}) {
        TempDir dir;
        dir.write("node.lua", kDemoConfig);
        Process p({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.txt"));
        ASSERT_TRUE(p.wait_for_output("messages/s")) << p.output();
        p.signal(sig);
        EXPECT_EQ(p.wait(), 0) << p.output();
        EXPECT_NE(p.output().find("shutting down"), std::string::npos);
    }
}

TEST(NodeProcess, SighupReopensTheLogFile) {
    TempDir dir;
    dir.write("node.lua", std::string(kDemoConfig) + "logger = \"" + dir.file("node.log") + "\"\n");
    Process p({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.txt"));
    ASSERT_TRUE(wait_until_file_contains(dir.file("node.log"), "messages/s"));
    ASSERT_EQ(std::rename(dir.file("node.log").c_str(), dir.file("node.log.1").c_str()), 0);
    p.signal(SIGHUP);
    EXPECT_TRUE(wait_until_file_contains(dir.file("node.log"), "messages/s"))
        << "a new log file is written after SIGHUP";
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(), 0);
}

}  // namespace
}  // namespace skyhive::test
