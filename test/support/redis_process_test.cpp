// RedisProcess (redis_process.*), against real redis-server processes.
#include "test/support/redis_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "redis/probe.h"

namespace skyhive::test {
namespace {

TEST(RedisProcessTest, StartsAnsweringAndStopsRemovingItsDirectory) {
    auto p = RedisProcess::start();
    ASSERT_TRUE(p) << p.error().message;
    int port = p.value()->port();
    std::string dir = p.value()->dir();
    EXPECT_TRUE(redis::answers_ping(port));
    EXPECT_TRUE(std::filesystem::exists(dir));
    p.value().reset();
    EXPECT_FALSE(redis::answers_ping(port));
    EXPECT_FALSE(std::filesystem::exists(dir));
}

// A server that exits during start-up (here: a config line it rejects) is an error, and nothing
// else is signalled: the failed start used to SIGKILL pid -1 (every process it may signal) once
// it had reaped the server.
TEST(RedisProcessTest, AServerThatExitsDuringStartUpIsAnErrorAndSignalsNothingElse) {
    pid_t bystander = ::fork();
    ASSERT_GE(bystander, 0);
    if (bystander == 0) {
        ::pause();
        std::_Exit(0);
    }
    RedisProcess::Options options;
    options.config = {"no-such-directive 1"};
    auto p = RedisProcess::start(std::move(options));
    ASSERT_FALSE(p) << "a server with a bad config line started";
    EXPECT_NE(p.error().message.find("exited during start-up"), std::string::npos)
        << p.error().message;
    int status = 0;
    EXPECT_EQ(::waitpid(bystander, &status, WNOHANG), 0)
        << "a process beside the failed start was "
        << (WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                : std::string("ended"));
    ::kill(bystander, SIGKILL);
    ::waitpid(bystander, nullptr, 0);
}

}  // namespace
}  // namespace skyhive::test
