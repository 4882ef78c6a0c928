// The skyhive binary as a user runs it: config errors, clean shutdown on signals, log reopening.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>

#include "test/integration/process.h"

namespace skyhive::test {
namespace {

// A node that runs the shipped Lua bootstrap with `tick` as its start service: a script that
// logs "tick" ten times a second, so a test can see the node working and writing its log.
std::string ticking_node(const TempDir& dir) {
    const std::string src = SKYHIVE_SOURCE_DIR;
    dir.write("tick.lua",
              "local skynet = require \"skynet\"\n"
              "skynet.start(function()\n"
              "    skynet.fork(function()\n"
              "        while true do skynet.error(\"tick\") skynet.sleep(10) end\n"
              "    end)\n"
              "end)\n");
    return "thread = 2\n"
           "bootstrap = \"snlua bootstrap\"\n"
           "start = \"tick\"\n"
           "luaservice = \"" +
           src + "/services/lua/?.lua;" + dir.path() +
           "/?.lua\"\n"
           "lua_path = \"" +
           src + "/lualib/?.lua;" + src + "/lualib/?/init.lua\"\n";
}

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

// No built-in service stands in for a missing bootstrap: the node refuses the config, names the
// file and the key, and starts nothing.
TEST(NodeProcess, ConfigWithoutBootstrapIsAnErrorNamingFileAndKey) {
    TempDir dir;
    dir.write("node.lua", "thread = 2\nlocal_redis = \"" + dir.file("redis") + "\"\n");
    Process p({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.txt"));
    EXPECT_EQ(p.wait(), 2);
    std::string out = p.output();
    EXPECT_NE(out.find(dir.file("node.lua") + ": key 'bootstrap' is missing"), std::string::npos)
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
        dir.write("node.lua", ticking_node(dir));
        Process p({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.txt"));
        ASSERT_TRUE(p.wait_for_output("tick")) << p.output();
        p.signal(sig);
        EXPECT_EQ(p.wait(), 0) << p.output();
        EXPECT_NE(p.output().find("shutting down"), std::string::npos);
    }
}

TEST(NodeProcess, SighupReopensTheLogFile) {
    TempDir dir;
    dir.write("node.lua", ticking_node(dir) + "logger = \"" + dir.file("node.log") + "\"\n");
    Process p({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.txt"));
    ASSERT_TRUE(wait_until_file_contains(dir.file("node.log"), "tick"));
    ASSERT_EQ(std::rename(dir.file("node.log").c_str(), dir.file("node.log.1").c_str()), 0);
    p.signal(SIGHUP);
    EXPECT_TRUE(wait_until_file_contains(dir.file("node.log"), "tick"))
        << "a new log file is written after SIGHUP";
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(), 0);
}

}  // namespace
}  // namespace skyhive::test
