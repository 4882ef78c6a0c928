// The local redis-server's supervision (services/local_redis.*): a real redis-server is killed
// and must be reaped, reported and restarted on the same port and data; restarts that fail (a
// wrapper script injects the failure) are reported and retried with backoff; stop() ends
// supervision.
#include "services/local_redis.h"

#include "test/services/services_test_support.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace skyhive {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::command;
using test::TempDir;

// The supervisor's log lines. Thread: any (the supervisor writes, the test reads).
class Lines {
  public:
    LocalRedis::Log sink() {
        return [this](LogLevel, const std::string& line) {
            std::lock_guard lock(mutex_);
            lines_.push_back(line);
            changed_.notify_all();
        };
    }
    // Waits until `n` lines contain `text`; the last of them, or "" after the timeout.
    std::string wait_for(const std::string& text, size_t n = 1) {
        std::unique_lock lock(mutex_);
        std::string found;
        changed_.wait_for(lock, 15s, [&] { return count_locked(text, &found) >= n; });
        return count_locked(text, &found) >= n ? found : "";
    }
    size_t count(const std::string& text) {
        std::lock_guard lock(mutex_);
        return count_locked(text, nullptr);
    }
    std::string all() {
        std::lock_guard lock(mutex_);
        std::string out;
        for (auto& l : lines_)
            out += l + "\n";
        return out;
    }

  private:
    size_t count_locked(const std::string& text, std::string* last) const {
        size_t n = 0;
        for (auto& l : lines_)
            if (l.find(text) != std::string::npos) {
                ++n;
                if (last) *last = l;
            }
        return n;
    }
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> lines_;
};

// The first reply line after a bulk header ("$5" -> the next line).
std::string get(int port, const std::string& key) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string reply, line = "GET " + key + "\r\n";
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) > 0) {
        char buf[512];
        while (std::count(reply.begin(), reply.end(), '\n') < 2 && reply != "$-1\r\n") {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            reply.append(buf, size_t(n));
        }
    }
    ::close(fd);
    size_t nl = reply.find("\r\n");
    if (nl == std::string::npos || reply[0] != '$' || reply == "$-1\r\n") return "";
    return reply.substr(nl + 2, reply.find("\r\n", nl + 2) - nl - 2);
}

// True once `pid` is no longer our child: reaped, not left a zombie.
bool reaped(pid_t pid) {
    for (auto until = Clock::now() + 15s; Clock::now() < until;) {
        if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

LocalRedis::Options options(const TempDir& dir) {
    LocalRedis::Options o;
    o.dir = dir.file("data");
    return o;
}

TEST(LocalRedis, KilledServerIsReapedReportedAndRestartedOnItsPortAndData) {
    TempDir dir;
    Lines log;
    auto started = LocalRedis::start(options(dir), log.sink());
    ASSERT_TRUE(started) << started.error().message;
    auto& redis = *started.value();
    const pid_t first = redis.pid();
    ASSERT_GT(first, 0);
    ASSERT_EQ(command(redis.port(), "SET gold 2000"), "+OK");

    ASSERT_EQ(::kill(first, SIGKILL), 0);
    std::string died = log.wait_for("died");
    EXPECT_EQ(died, "local redis-server (pid " + std::to_string(first) +
                        ") died: killed by signal 9 (Killed); restarting in 100 ms")
        << log.all();
    EXPECT_TRUE(reaped(first)) << "the killed server is left as a zombie";
    std::string restarted = log.wait_for("restarted");
    ASSERT_NE(restarted, "") << log.all();
    EXPECT_NE(restarted.find("restarted local redis-server on " + redis.address() + " (pid "),
              std::string::npos)
        << restarted;
    EXPECT_NE(redis.pid(), first);
    EXPECT_GT(redis.pid(), 0);
    EXPECT_EQ(redis.restarts(), 1);
    // Acknowledged before the kill, replayed from the append-only file.
    EXPECT_EQ(get(redis.port(), "gold"), "2000");

    // A clean stop is not a death: nothing is restarted.
    const pid_t second = redis.pid();
    EXPECT_EQ(redis.stop(), "exit code 0");
    EXPECT_TRUE(reaped(second));
    EXPECT_EQ(redis.pid(), -1);
    EXPECT_EQ(log.count("died"), 1u) << log.all();
    EXPECT_EQ(log.count("restarted"), 1u) << log.all();
    EXPECT_EQ(command(redis.port(), "PING"), "");
}

TEST(LocalRedis, FailedRestartsAreReportedAndRetriedWithBackoff) {
    TempDir dir;
    // The program fails while the file "broken" exists, and says why in the server's log.
    {
        std::ofstream script(dir.file("redis-server"));
        script << "#!/bin/sh\n"
                  "log=/dev/null; prev=\n"
                  "for a in \"$@\"; do [ \"$prev\" = --logfile ] && log=$a; prev=$a; done\n"
                  "if [ -e '"
               << dir.file("broken")
               << "' ]; then echo 'injected: cannot open the data' >> \"$log\"; exit 1; fi\n"
                  "exec redis-server \"$@\"\n";
    }
    ASSERT_EQ(::chmod(dir.file("redis-server").c_str(), 0755), 0);
    auto o = options(dir);
    o.program = dir.file("redis-server");
    o.backoff_min = 20ms;
    o.backoff_max = 80ms;
    Lines log;
    auto started = LocalRedis::start(o, log.sink());
    ASSERT_TRUE(started) << started.error().message;
    auto& redis = *started.value();

    std::ofstream(dir.file("broken")) << "";
    ASSERT_EQ(::kill(redis.pid(), SIGKILL), 0);
    EXPECT_NE(log.wait_for("died: killed by signal 9 (Killed); restarting in 20 ms"), "")
        << log.all();
    // Each failure is reported with the server's own reason; the delay doubles up to the cap.
    std::string first = log.wait_for("restart #1 failed");
    EXPECT_NE(first.find("injected: cannot open the data"), std::string::npos) << first;
    EXPECT_NE(first.find("retrying in 40 ms"), std::string::npos) << first;
    EXPECT_NE(log.wait_for("restart #2 failed").find("retrying in 80 ms"), std::string::npos);
    EXPECT_NE(log.wait_for("restart #3 failed").find("retrying in 80 ms"), std::string::npos);
    EXPECT_EQ(redis.pid(), -1);

    std::filesystem::remove(dir.file("broken"));
    EXPECT_NE(log.wait_for("restarted local redis-server"), "") << log.all();
    EXPECT_EQ(command(redis.port(), "PING"), "+PONG");
    EXPECT_EQ(redis.restarts(), 1);
    EXPECT_EQ(redis.stop(), "exit code 0");
}

TEST(LocalRedis, RestartDelayDoublesOnQuickDeathsAndResetsAfterAStableRun) {
    TempDir dir;
    auto o = options(dir);
    o.backoff_min = 20ms;
    o.backoff_max = 1s;
    o.stable_after = 500ms;
    Lines log;
    auto started = LocalRedis::start(o, log.sink());
    ASSERT_TRUE(started) << started.error().message;
    auto& redis = *started.value();
    // The first server has been up for less than stable_after: the delay starts at 20 ms and
    // doubles while the restarted servers die at once.
    for (int i = 1; i <= 3; ++i) {
        ASSERT_EQ(::kill(redis.pid(), SIGKILL), 0);
        ASSERT_NE(log.wait_for("restarted", size_t(i)), "") << log.all();
    }
    EXPECT_EQ(log.count("restarting in 20 ms"), 1u) << log.all();
    EXPECT_EQ(log.count("restarting in 40 ms"), 1u) << log.all();
    EXPECT_EQ(log.count("restarting in 80 ms"), 1u) << log.all();
    // Up longer than stable_after: back to 20 ms.
    std::this_thread::sleep_for(600ms);
    ASSERT_EQ(::kill(redis.pid(), SIGKILL), 0);
    ASSERT_NE(log.wait_for("restarted", 4), "") << log.all();
    EXPECT_EQ(log.count("restarting in 20 ms"), 2u) << log.all();
    EXPECT_EQ(redis.restarts(), 4);
}

TEST(LocalRedis, StopDuringTheRestartDelayRestartsNothing) {
    TempDir dir;
    auto o = options(dir);
    o.backoff_min = 60s;
    Lines log;
    auto started = LocalRedis::start(o, log.sink());
    ASSERT_TRUE(started) << started.error().message;
    auto& redis = *started.value();
    const pid_t pid = redis.pid();
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_NE(log.wait_for("restarting in 60000 ms"), "") << log.all();
    EXPECT_TRUE(reaped(pid));
    auto before = Clock::now();
    EXPECT_EQ(redis.stop(), "not running");
    EXPECT_LT(Clock::now() - before, 5s) << "stop() waited out the restart delay";
    EXPECT_EQ(log.count("restarted"), 0u) << log.all();
    EXPECT_EQ(redis.pid(), -1);
}

}  // namespace
}  // namespace skyhive
