// The composition root as tests build it: a Runtime from a config, run on this thread until a
// signal stops it, with its local redis-server started before the services and stopped after.
#include "services/runtime.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "services/config_loader.h"
#include "test/services/services_test_support.h"

namespace skyhive {
namespace {

using namespace std::chrono_literals;
using test::command;
using test::free_port;
using test::TempDir;

Config config_of(const std::string& text) {
    auto config = parse_config(text, "runtime.lua");
    EXPECT_TRUE(config) << config.error().message;
    return config ? std::move(config.value()) : Config();
}

// The shipped Lua bootstrap and start script (main.lua, which launches nothing without
// debug_console or echo): the node runs its launcher until something stops it.
std::string lua_node() {
    const std::string src = SKYHIVE_SOURCE_DIR;
    return "thread = 2\nbootstrap = \"snlua bootstrap\"\nluaservice = \"" + src +
           "/services/lua/?.lua\"\nlua_path = \"" + src + "/lualib/?.lua;" + src +
           "/lualib/?/init.lua\"\n";
}

TEST(Runtime, RunsUntilSigtermAndStopsItsLocalRedisWithIt) {
    TempDir dir;
    const int port = free_port();
    auto runtime =
        Runtime::create(config_of(lua_node() + "local_redis = \"" + dir.file("redis") +
                                  "\"\nlocal_redis_port = " + std::to_string(port) + "\n"));
    ASSERT_TRUE(runtime) << runtime.error().message;
    // create() blocked the node's signals in this thread: threads started from here on leave
    // SIGTERM to the runtime's signal thread.
    bool answered = false;
    std::thread stopper([&] {
        for (auto until = std::chrono::steady_clock::now() + 15s;
             !answered && std::chrono::steady_clock::now() < until;) {
            answered = command(port, "PING") == "+PONG";
            if (!answered) std::this_thread::sleep_for(10ms);
        }
        ::kill(::getpid(), SIGTERM);
    });
    int code = runtime.value()->run();
    stopper.join();
    EXPECT_TRUE(answered) << "the local redis-server did not answer while the node ran";
    EXPECT_EQ(code, 0);
    EXPECT_EQ(command(port, "PING"), "") << "redis-server outlived the runtime";
}

TEST(Runtime, ConfigErrorsNameFileLineAndKey) {
    auto runtime =
        Runtime::create(config_of("thread = 2\nlocal_redis = \"x\"\nlocal_redis_port = 70000\n"));
    ASSERT_FALSE(runtime);
    EXPECT_NE(runtime.error().message.find("runtime.lua:3"), std::string::npos)
        << runtime.error().message;
    EXPECT_NE(runtime.error().message.find("local_redis_port"), std::string::npos)
        << runtime.error().message;
}

TEST(Runtime, APartThatCannotStartEndsTheRunWithExitCodeOne) {
    TempDir dir;
    // The port is held by a listener that is not a Redis: redis-server cannot bind it.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    auto runtime = Runtime::create(
        config_of(lua_node() + "local_redis = \"" + dir.file("redis") +
                  "\"\nlocal_redis_port = " + std::to_string(ntohs(addr.sin_port)) + "\n"));
    ASSERT_TRUE(runtime) << runtime.error().message;
    EXPECT_EQ(runtime.value()->run(), 1);
    ::close(fd);
}

}  // namespace
}  // namespace skyhive
