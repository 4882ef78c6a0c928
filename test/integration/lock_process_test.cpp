// Distributed locks across node processes sharing one redis-server: mutual exclusion between two
// processes of four contender services each; a holder paused (SIGSTOP) past its ttl loses the
// lock to a contender and its fenced write is refused on resume; min_replicas against a real
// replica. The Lua side is test/integration/lock/lock_node.lua.
#include <gtest/gtest.h>
#include <signal.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "test/integration/process.h"
#include "test/support/redis_process.h"

namespace skyhive::test {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<RedisProcess> start_redis(RedisProcess::Options options = {}) {
    auto r = RedisProcess::start(std::move(options));
    if (!r) {
        ADD_FAILURE() << r.error().message;
        return nullptr;
    }
    return std::move(r.value());
}

// A node config whose start service is `lock_node <args>`.
std::string node_config(const std::string& args) {
    std::string src = SKYHIVE_SOURCE_DIR;
    return "thread = 2\n"
           "harbor = 0\n"
           "bootstrap = \"snlua bootstrap\"\n"
           "start = \"lock_node " +
           args +
           "\"\n"
           "luaservice = \"" +
           src + "/services/lua/?.lua;" + src +
           "/test/integration/lock/?.lua\"\n"
           "lua_path = \"" +
           src + "/lualib/?.lua;" + src +
           "/lualib/?/init.lua\"\n"
           "loglevel = \"info\"\n";
}

struct Node {
    Node(const TempDir& dir, const std::string& name, const std::string& args)
        : output(dir.file(name + ".out")) {
        dir.write(name + ".lua", node_config(args));
        process = std::make_unique<Process>(
            std::vector<std::string>{SKYHIVE_BINARY, dir.file(name + ".lua")}, output,
            SKYHIVE_SOURCE_DIR);
    }
    std::string output;
    std::unique_ptr<Process> process;
};

// The integer after the first "key=" in text, or -1.
long long field(const std::string& text, const std::string& key) {
    size_t at = text.find(key + "=");
    if (at == std::string::npos) return -1;
    size_t begin = at + key.size() + 1, end = begin;
    while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) != 0 ||
                                 (end == begin && text[end] == '-')))
        ++end;
    if (end == begin) return -1;
    return std::stoll(text.substr(begin, end - begin));
}

long long redis_int(const RedisProcess& redis, const std::string& command) {
    auto reply = redis.command(command);
    if (!reply || reply.value().empty() || reply.value()[0] != ':') {
        ADD_FAILURE() << command << ": " << (reply ? reply.value() : reply.error().message);
        return -1;
    }
    return std::stoll(reply.value().substr(1));
}

// Two processes x 4 services increment a counter by GET, yield, SET under the lock: every
// increment lands. Without the lock (the control) increments are lost, so the check can fail.
void run_mutex(const RedisProcess& redis, const std::string& mode, bool expect_exact) {
    TempDir dir;
    const int services = 4, rounds = 25;
    std::string args = std::to_string(redis.port()) + " " + std::to_string(services) + " " +
                       std::to_string(rounds) + " " + mode;
    Node a(dir, "a", "mutex " + args);
    Node b(dir, "b", "mutex " + args);
    ASSERT_EQ(a.process->wait(90s), 0) << a.process->output();
    ASSERT_EQ(b.process->wait(90s), 0) << b.process->output();
    long long total =
        field(a.process->output(), "acquisitions") + field(b.process->output(), "acquisitions");
    ASSERT_EQ(total, 2 * services * rounds);
    long long counter = redis_int(redis, "INCRBY mutex:counter:" + mode + " 0");
    if (expect_exact) {
        EXPECT_EQ(counter, total) << mode << ": two holders overlapped";
    } else {
        EXPECT_LT(counter, total) << "without the lock some increments should be lost";
    }
}

TEST(LockProcess, MutualExclusionAcrossTwoProcessesOfFourServices) {
    auto redis = start_redis();
    ASSERT_TRUE(redis);
    run_mutex(*redis, "nolock", false);
    run_mutex(*redis, "nonfair", true);
    run_mutex(*redis, "fair", true);
}

// The holder renews a 1500 ms lease (long enough that a loaded machine's stalls do not cost it
// the lease before the pause); paused past it, it loses the lock to a contender whose
// fence is higher. On resume on_lost fires, valid() is false, its fenced write is refused as
// stale and release() says "expired"; the contender's data stays.
TEST(LockProcess, PausedHolderLosesTheLockAndItsFencedWriteIsRefused) {
    auto redis = start_redis();
    ASSERT_TRUE(redis);
    TempDir dir;
    std::string port = std::to_string(redis->port());
    Node holder(dir, "holder", "holder " + port);
    ASSERT_TRUE(holder.process->wait_for_output("HOLDER fence=")) << holder.process->output();
    long long holder_fence = field(holder.process->output(), "fence");
    // Renewal keeps the lease while the holder runs: twice its ttl later it is still held.
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(redis_int(*redis, "EXISTS stop:lock"), 1);

    holder.process->signal(SIGSTOP);
    Node contender(dir, "contender", "contender " + port);
    ASSERT_EQ(contender.process->wait(30s), 0) << contender.process->output();
    std::string c = contender.process->output();
    EXPECT_GT(field(c, "fence"), holder_fence) << c;
    EXPECT_NE(c.find("write=OK"), std::string::npos) << c;

    holder.process->signal(SIGCONT);
    ASSERT_EQ(holder.process->wait(30s), 0) << holder.process->output();
    std::string h = holder.process->output();
    EXPECT_NE(h.find("HOLDER lost=expired valid=false write=stale release=expired"),
              std::string::npos)
        << h;
    EXPECT_EQ(redis_int(*redis, "STRLEN stop:data"), 1) << "the contender's \"B\" stays";
}

// min_replicas: a connected replica acknowledges; a paused one does not, and the acquire fails
// with not_synced, leaving no lock behind.
TEST(LockProcess, MinReplicasWaitsForARealReplica) {
    auto master = start_redis();
    ASSERT_TRUE(master);
    RedisProcess::Options options;
    options.config.push_back("replicaof 127.0.0.1 " + std::to_string(master->port()));
    auto replica = start_redis(options);
    ASSERT_TRUE(replica);
    // Wait for the replication link before measuring.
    bool linked = false;
    for (int i = 0; i < 500 && !linked; ++i) {
        linked = redis_int(*master, "WAIT 1 10") == 1;
    }
    ASSERT_TRUE(linked) << "the replica never connected";

    TempDir dir;
    std::string port = std::to_string(master->port());
    Node synced(dir, "synced", "sync " + port + " 1 2000");
    ASSERT_EQ(synced.process->wait(30s), 0) << synced.process->output();
    EXPECT_NE(synced.process->output().find("SYNC ok"), std::string::npos)
        << synced.process->output();

    replica->signal(SIGSTOP);
    Node unsynced(dir, "unsynced", "sync " + port + " 1 200");
    ASSERT_EQ(unsynced.process->wait(30s), 0) << unsynced.process->output();
    EXPECT_NE(unsynced.process->output().find("SYNC not_synced exists=0"), std::string::npos)
        << unsynced.process->output();
    replica->signal(SIGCONT);
}

}  // namespace
}  // namespace skyhive::test
