// The loopback probes the node's local Redis and the tests' processes share: against a real
// redis-server, a port nobody listens on, and a listener that never answers.
#include "redis/probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "test/support/redis_process.h"

namespace skyhive::redis {
namespace {

using namespace std::chrono_literals;

// A loopback listener that accepts nothing and answers nothing (connects still succeed: the
// kernel completes them into the backlog).
struct SilentListener {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = 0;
    SilentListener() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        EXPECT_EQ(::listen(fd, 16), 0);
        EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
        port = ntohs(a.sin_port);
    }
    ~SilentListener() { ::close(fd); }
};

TEST(Probe, FreeLoopbackPortCanBeBound) {
    const int port = free_loopback_port();
    ASSERT_GT(port, 0);
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
}

TEST(Probe, InlineCommandReturnsTheFirstReplyLineOfARealServer) {
    auto server = test::RedisProcess::start();
    ASSERT_TRUE(server) << server.error().message;
    const int port = server.value()->port();
    auto pong = inline_command(port, "PING", 2s);
    ASSERT_TRUE(pong) << pong.error().message;
    EXPECT_EQ(pong.value(), "+PONG");
    auto set = inline_command(port, "SET probe-key 42", 2s);
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_EQ(set.value(), "+OK");
    EXPECT_EQ(inline_command(port, "GET probe-key", 2s).value(), "$2");
    EXPECT_TRUE(answers_ping(port));
}

TEST(Probe, ErrorsNameTheAddressAndTheCommand) {
    const int port = free_loopback_port();  // nobody listens there
    auto refused = inline_command(port, "PING", 500ms);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << refused.error().message;
    EXPECT_FALSE(answers_ping(port));

    SilentListener silent;
    auto mute = inline_command(silent.port, "ROLE", 100ms);
    ASSERT_FALSE(mute);
    EXPECT_EQ(mute.error().message,
              "no reply from 127.0.0.1:" + std::to_string(silent.port) + " to ROLE");
}

TEST(Probe, AwaitPingReturnsOnceTheServerAnswers) {
    auto server = test::RedisProcess::start();
    ASSERT_TRUE(server) << server.error().message;
    int calls = 0;
    auto ready = await_ping(server.value()->port(), 5s, [&]() -> Result<void> {
        ++calls;
        return {};
    });
    EXPECT_TRUE(ready) << ready.error().message;
    EXPECT_EQ(calls, 1);
}

TEST(Probe, AwaitPingStopsWithTheErrorOfAProcessThatIsGone) {
    SilentListener silent;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = await_ping(silent.port, 60s, [] { return Result<void>(Error{"server exited"}); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "server exited");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);  // not the 60 s timeout
}

TEST(Probe, AwaitPingGivesUpAfterItsTimeoutNamingTheAddress) {
    SilentListener silent;
    auto r = await_ping(silent.port, 100ms, [] { return Result<void>(); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "127.0.0.1:" + std::to_string(silent.port) + " did not answer PING within 100 ms");
}

}  // namespace
}  // namespace skyhive::redis
