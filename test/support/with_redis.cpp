// with_redis: runs a command with a fresh redis-server beside it.
//   with_redis <program> [args...]
// Starts redis-server on a free loopback port in a temporary directory, exports
// SKYHIVE_TEST_REDIS_PORT (and SKYHIVE_TEST_REDIS_DIR) to the program, waits for it, stops the
// server, and exits with the program's status. Used by ctest for tests of the skyhive binary.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "test/support/program_runner.h"
#include "test/support/redis_process.h"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: with_redis <program> [args...]\n");
        return 2;
    }
    auto redis = skyhive::test::RedisProcess::start();
    if (!redis) {
        std::fprintf(stderr, "with_redis: %s\n", redis.error().message.c_str());
        return 2;
    }
    std::string port = std::to_string(redis.value()->port());
    ::setenv("SKYHIVE_TEST_REDIS_PORT", port.c_str(), 1);
    ::setenv("SKYHIVE_TEST_REDIS_DIR", redis.value()->dir().c_str(), 1);
    pid_t child = skyhive::test::spawn_program("with_redis", argv + 1);
    if (child < 0) return 2;
    int status = 0;
    ::waitpid(child, &status, 0);
    return skyhive::test::exit_code_of(status);
}
