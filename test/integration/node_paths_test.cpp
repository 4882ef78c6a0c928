// The node runs from any directory: a config's relative paths are taken from the config file's
// directory, and `cmake --install` lays out a tree in which the shipped configs work as they do in
// the source tree. Real processes: cmake --install, the installed binary, redis-server, sockets.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "test/integration/game_support.h"
#include "test/integration/process.h"

namespace skyhive::test {
namespace {

namespace fs = std::filesystem;
using game::Player;

// The port in the node's "<what>: listening on 127.0.0.1:<port>" line, once it is there; 0 when
// the line did not come (the output is then in the test's failure message).
int listening_port(const Process& node, const std::string& what) {
    const std::string needle = what + ": listening on 127.0.0.1:";
    if (!node.wait_for_output(needle)) return 0;
    std::string out = node.output();
    return std::atoi(out.c_str() + out.find(needle) + needle.size());
}

// The debug console on `port` answers `list` with a line naming `service`.
bool console_lists(int port, const std::string& service) {
    auto reply = game::console(port, "list");
    return reply.ok() && std::any_of(reply.lines.begin(), reply.lines.end(), [&](const auto& l) {
               return l.find(service) != std::string::npos;
           });
}

std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// A fresh install of the build tree into a temporary prefix, and an empty directory to run from.
class InstalledNode : public ::testing::Test {
  protected:
    void SetUp() override {
        prefix_ = fs::path(prefix_dir_.path());
        Process install(
            {SKYHIVE_CMAKE, "--install", SKYHIVE_BUILD_DIR, "--prefix", prefix_.string()},
            prefix_dir_.file("install.log"));
        ASSERT_EQ(install.wait(std::chrono::seconds(120)), 0) << install.output();
        share_ = prefix_ / "share/skyhive";
    }

    TempDir prefix_dir_;
    TempDir cwd_;  // where the node runs: nothing of skyhive is there
    fs::path prefix_;
    fs::path share_;
};

// What a user gets: the binary, the Lua library and services, the game and the user configs, in
// the source tree's shape; no test config, no C++ source.
TEST_F(InstalledNode, InstallsTheBinaryLuaFilesAndUserConfigs) {
    EXPECT_TRUE(fs::is_regular_file(prefix_ / "bin/skyhive"));
    EXPECT_EQ(entries(share_ / "config"),
              (std::vector<std::string>{"default.lua", "echo.lua", "node2.lua", "sentinel.lua"}));
    for (const char* file :
         {"lualib/skynet.lua", "lualib/skynet/db/redis.lua", "services/lua/bootstrap.lua",
          "services/lua/sentinel_watcher.lua", "services/game/game_main.lua",
          "services/lua/admin.lua", "lualib/admin/routes.lua"})
        EXPECT_TRUE(fs::is_regular_file(share_ / file)) << file;
    EXPECT_EQ(
        entries(share_ / "services/admin/www"),
        (std::vector<std::string>{"dashboard.css", "dashboard.js", "favicon.svg", "index.html"}));
    // Besides the dashboard's files, Lua only.
    for (const auto& e : fs::recursive_directory_iterator(share_)) {
        if (e.is_regular_file() && e.path().parent_path().filename() != "www") {
            EXPECT_EQ(e.path().extension(), ".lua") << e.path();
        }
    }
}

// `skyhive` without an argument runs the installed default config from an unrelated directory:
// the game answers a login (so its Lua paths and its local redis-server's data directory, beside
// the config, were found), nothing is written to the current directory, and SIGTERM stops it.
TEST_F(InstalledNode, DefaultConfigRunsWithoutArgumentFromAnotherDirectory) {
    // The installed copy's fixed ports would collide with other nodes on this machine.
    std::ofstream(share_ / "config/default.lua", std::ios::app)
        << "game = \"127.0.0.1:0\"\ndebug_console = \"127.0.0.1:0\"\nlocal_redis_port = 0\n"
           "admin = \"127.0.0.1:0\"\n"
           "cluster_listen = \"127.0.0.1:0\"\n";
    Process node({(prefix_ / "bin/skyhive").string()}, prefix_dir_.file("node.log"), cwd_.path());
    int port = listening_port(node, "game");
    ASSERT_NE(port, 0) << node.output();
    EXPECT_NE(node.output().find("data in " + (fs::canonical(share_) / "run/redis").string() + ")"),
              std::string::npos)
        << node.output();
    Player alice(port);
    ASSERT_TRUE(alice.ready()) << node.output();
    EXPECT_EQ(alice.command("login alice secret"),
              "welcome alice: you are new here and have 100 gold");
    EXPECT_TRUE(console_lists(listening_port(node, "debug console"), "snlua world"));
    node.signal(SIGTERM);
    EXPECT_EQ(node.wait(), 0) << node.output();
    EXPECT_TRUE(entries(cwd_.path()).empty()) << "the node wrote into its current directory";
}

// A user's own config elsewhere includes the installed one: the included file's paths stay its
// own, the user's relative logger lands beside the user's config, and the node is started from a
// third directory with a relative config path.
TEST_F(InstalledNode, AUserConfigIncludingAnInstalledOneRunsFromAnywhere) {
    fs::create_directory(fs::path(cwd_.path()) / "etc");
    std::ofstream(fs::path(cwd_.path()) / "etc/echo.lua")
        << "include \"" << (share_ / "config/echo.lua").string() << "\"\n"
        << "echo = \"127.0.0.1:0\"\ndebug_console = \"127.0.0.1:0\"\nlogger = \"node.log\"\n";
    TempDir elsewhere;
    std::string relative =
        fs::relative(fs::path(cwd_.path()) / "etc/echo.lua", elsewhere.path()).string();
    Process node({(prefix_ / "bin/skyhive").string(), relative}, prefix_dir_.file("out.log"),
                 elsewhere.path());
    const std::string log = cwd_.file("etc/node.log");
    ASSERT_TRUE(wait_until_file_contains(log, "echo: listening on")) << node.output();
    const std::string needle = "echo: listening on 127.0.0.1:";
    std::string text = read_file(log);
    LineClient echo(std::atoi(text.c_str() + text.find(needle) + needle.size()));
    ASSERT_TRUE(echo.send("from elsewhere\r\n"));
    EXPECT_EQ(echo.read_line(), "from elsewhere");
    node.signal(SIGTERM);
    EXPECT_EQ(node.wait(), 0) << read_file(log);
    EXPECT_TRUE(entries(elsewhere.path()).empty()) << "the node wrote into its current directory";
}

// The source tree's own default config, run by the build's binary from a directory that is not
// the repository root (the Redis data directory moved to the test's).
TEST(NodePaths, SourceTreeConfigRunsFromAnotherDirectory) {
    TempDir dir;
    TempDir cwd;
    dir.write("node.lua", "include \"" + std::string(SKYHIVE_SOURCE_DIR) +
                              "/config/default.lua\"\n"
                              "game = \"127.0.0.1:0\"\ndebug_console = \"127.0.0.1:0\"\n"
                              "admin = \"127.0.0.1:0\"\n"
                              "cluster_listen = \"127.0.0.1:0\"\n"
                              "local_redis = \"redis\"\nlocal_redis_port = 0\n");
    Process node({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.log"), cwd.path());
    int port = listening_port(node, "game");
    ASSERT_NE(port, 0) << node.output();
    EXPECT_NE(node.output().find("data in " + fs::canonical(dir.path()).string() + "/redis)"),
              std::string::npos)
        << node.output();
    Player bob(port);
    ASSERT_TRUE(bob.ready()) << node.output();
    EXPECT_EQ(bob.command("login bob secret"), "welcome bob: you are new here and have 100 gold");
    node.signal(SIGTERM);
    EXPECT_EQ(node.wait(), 0) << node.output();
    EXPECT_TRUE(entries(cwd.path()).empty()) << "the node wrote into its current directory";
}

// A path that leads nowhere is named as the loader resolved it, with its key, before anything
// starts.
TEST(NodePaths, AMissingPreloadNamesTheKeyAndTheResolvedPath) {
    TempDir dir;
    TempDir cwd;
    dir.write("node.lua", "include \"" + std::string(SKYHIVE_SOURCE_DIR) +
                              "/config/echo.lua\"\npreload = \"lib/preload.lua\"\n");
    Process node({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.log"), cwd.path());
    EXPECT_EQ(node.wait(), 2);
    EXPECT_NE(node.output().find(dir.file("node.lua") + ":2: key 'preload': no file '" +
                                 fs::canonical(dir.path()).string() + "/lib/preload.lua'"),
              std::string::npos)
        << node.output();
}

}  // namespace
}  // namespace skyhive::test
