// The README's first command: the default config with no Redis configured starts redis-server
// itself (data under a project folder), says so, plays, and stops it with the node; clear errors
// when it cannot.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
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
           "admin = \"127.0.0.1:0\"\n"
           "cluster_listen = \"127.0.0.1:0\"\n"
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

// The pid of the Redis on `port`, from INFO server; 0 if it does not answer.
pid_t server_pid(int port) {
    RespClient c(port);
    std::string info = c.command({"INFO", "server"}).str;
    size_t at = info.find("process_id:");
    return at == std::string::npos ? 0 : std::atoi(info.c_str() + at + 11);
}

// True once `pid` is gone from the process table: reaped, not a zombie (a zombie still accepts
// signal 0).
bool reaped(pid_t pid) {
    for (auto until = Clock::now() + kDeadline; Clock::now() < until;) {
        if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
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
        EXPECT_NE(node.output().find(", data in " + dir.file("data/redis") + ")"),
                  std::string::npos)
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

// kill -9 of the node's own redis-server: the node reaps it, says so, restarts it on the same
// port and data, and the game recovers by itself with no acknowledged gold lost.
TEST(GameLocalRedis, RestartsItsRedisAfterKill9AndTheGameRecovers) {
    TempDir dir;
    dir.write("node.lua", default_with(dir, "local_redis_port = 0\n"));
    Process node({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.log"), SKYHIVE_SOURCE_DIR);
    int redis_port = number_after(node, "started local redis-server on 127.0.0.1:");
    ASSERT_GT(redis_port, 0) << node.output();
    const std::string port_text = std::to_string(redis_port);
    // The server says its own pid; the node's log line names it too.
    const pid_t redis_pid = server_pid(redis_port);
    ASSERT_GT(redis_pid, 0);
    EXPECT_TRUE(node.wait_for_output("started local redis-server on 127.0.0.1:" + port_text +
                                     " (pid " + std::to_string(redis_pid) + ", data in "))
        << node.output();
    int game_port = number_after(node, "play: telnet 127.0.0.1 ");
    ASSERT_GT(game_port, 0) << node.output();

    Player alice(game_port), bob(game_port);
    ASSERT_EQ(alice.command("login alice secret"),
              "welcome alice: you are new here and have 100 gold");
    ASSERT_EQ(bob.command("login bob secret"), "welcome bob: you are new here and have 100 gold");

    // alice gives bob 1 gold at a time, before, during and after the kill. An acknowledged
    // transfer must be in Redis afterwards; one answered "storage unavailable" may or may not be.
    std::atomic<bool> done{false};
    std::atomic<int> acknowledged{0}, unknown{0};
    std::thread giver;
    // An ASSERT that returns early still stops and joins the giver.
    struct Joiner {
        std::atomic<bool>& done;
        std::thread& thread;
        ~Joiner() {
            done.store(true);
            if (thread.joinable()) thread.join();
        }
    } joiner{done, giver};
    giver = std::thread([&] {
        while (!done.load() && acknowledged.load() + unknown.load() < 100) {
            std::string reply = alice.command("give bob 1");
            if (reply.rfind("gave 1 gold to bob", 0) == 0) {
                ++acknowledged;
            } else {
                ++unknown;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        }
    });
    for (auto until = Clock::now() + kDeadline; acknowledged.load() < 5 && Clock::now() < until;)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(::kill(redis_pid, SIGKILL), 0);
    const auto killed_at = Clock::now();

    ASSERT_TRUE(node.wait_for_output("local redis-server (pid " + std::to_string(redis_pid) +
                                     ") died: killed by signal 9"))
        << node.output();
    EXPECT_TRUE(reaped(redis_pid)) << "the killed redis-server is left as a zombie";
    ASSERT_TRUE(node.wait_for_output("restarted local redis-server on 127.0.0.1:" + port_text))
        << node.output();
    const pid_t restarted =
        number_after(node, "restarted local redis-server on 127.0.0.1:" + port_text + " (pid ");
    EXPECT_GT(restarted, 0);
    EXPECT_NE(restarted, redis_pid);

    // The players keep playing within a few seconds, without a node restart.
    const int acked_at_kill = acknowledged.load();
    while (acknowledged.load() < acked_at_kill + 5 && Clock::now() < killed_at + kDeadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const auto recovered_in =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
    done.store(true);
    giver.join();
    EXPECT_GE(acknowledged.load(), acked_at_kill + 5) << node.output();
    EXPECT_LT(recovered_in, std::chrono::seconds(5)) << node.output();
    std::printf("transfers: %d acknowledged, %d unknown; recovered %lld ms after kill -9\n",
                acknowledged.load(), unknown.load(), static_cast<long long>(recovered_in.count()));
    // Chat (pub/sub) and presence work again. Pub/sub keeps nothing: a line said before the
    // watcher subscribed again is lost, so bob speaks until alice hears him.
    bool heard = false;
    for (auto until = killed_at + kDeadline; !heard && Clock::now() < until;) {
        EXPECT_EQ(bob.command("say back"), "you say: back");
        alice.command("gold");  // collects the notices that arrived meanwhile
        for (auto& n : alice.notices)
            heard = heard || n == "[chat] bob@node1: back";
        if (!heard) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(heard) << node.output();
    const auto chat_in =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
    std::printf("chat heard again %lld ms after kill -9\n",
                static_cast<long long>(chat_in.count()));
    EXPECT_EQ(alice.command("who"), "2 online: alice@node1 bob@node1");

    // No acknowledged gold lost: the stored balances hold every acknowledged transfer, the
    // ledger agrees with them, and the total is unchanged.
    {
        RespClient redis(redis_port);
        auto gold = balances(redis);
        auto entries = ledger(redis);
        long long moved = 100 - gold["alice"];
        EXPECT_EQ(gold["alice"] + gold["bob"], 200);
        EXPECT_EQ(gold["bob"] - 100, moved);
        EXPECT_GE(moved, acknowledged.load());
        EXPECT_LE(moved, acknowledged.load() + unknown.load());
        EXPECT_EQ(static_cast<long long>(entries.size()), moved);
        EXPECT_EQ(alice.command("gold"), "you have " + std::to_string(gold["alice"]) + " gold");
    }

    // A clean stop saves the players, then stops the restarted server; nothing is restarted
    // during the shutdown.
    node.signal(SIGTERM);
    EXPECT_EQ(node.wait(), 0) << node.output();
    std::string out = node.output();
    EXPECT_NE(out.find("players saved (0 failed)"), std::string::npos) << out;
    EXPECT_NE(out.find("stopped local redis-server on 127.0.0.1:" + port_text + " (exit code 0)"),
              std::string::npos)
        << out;
    EXPECT_EQ(count(out, "died:"), 1u) << out;
    EXPECT_EQ(count(out, "restarted local redis-server"), 1u) << out;
    EXPECT_TRUE(reaped(restarted));
    EXPECT_FALSE(redis_answers(redis_port));
}

// node2 shares node1's local redis-server: after its kill -9 both nodes play on, across nodes.
TEST(GameLocalRedis, TheOtherNodeRecoversToo) {
    TempDir dir;
    dir.write("node1.lua", default_with(dir, "local_redis_port = 0\n"));
    Process node1({SKYHIVE_BINARY, dir.file("node1.lua")}, dir.file("node1.log"),
                  SKYHIVE_SOURCE_DIR);
    int redis_port = number_after(node1, "started local redis-server on 127.0.0.1:");
    ASSERT_GT(redis_port, 0) << node1.output();
    int port1 = number_after(node1, "play: telnet 127.0.0.1 ");
    ASSERT_GT(port1, 0) << node1.output();
    GameNode node2(dir, "node2", redis_port);
    ASSERT_TRUE(node2.start()) << node2.output();

    Player carol(node2.port()), dave(port1);
    ASSERT_EQ(carol.command("login carol secret"),
              "welcome carol: you are new here and have 100 gold");
    ASSERT_EQ(dave.command("login dave secret"),
              "welcome dave: you are new here and have 100 gold");
    ASSERT_EQ(carol.command("give dave 5"), "gave 5 gold to dave; you have 95 gold");

    ASSERT_EQ(::kill(server_pid(redis_port), SIGKILL), 0);
    const auto killed_at = Clock::now();
    ASSERT_TRUE(node1.wait_for_output("restarted local redis-server")) << node1.output();
    // carol, on the node that does not own the server, gives again as soon as it answers.
    std::string reply;
    for (auto until = killed_at + kDeadline; Clock::now() < until;) {
        reply = carol.command("give dave 7");
        if (reply.rfind("gave 7 gold", 0) == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(reply, "gave 7 gold to dave; you have 88 gold") << node2.output();
    EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(5)) << node2.output();
    // The news of the gift travels by pub/sub, which drops what is published while node1's
    // subscriber is still reconnecting to the restarted server: not guaranteed, so not asserted.
    // The balance is (gold reads Redis).
    EXPECT_EQ(dave.command("gold"), "you have 112 gold");
    EXPECT_EQ(dave.command("who"), "2 online: carol@node2 dave@node1");

    RespClient redis(redis_port);
    auto gold = balances(redis);
    EXPECT_EQ(gold["carol"], 88);
    EXPECT_EQ(gold["dave"], 112);
    EXPECT_EQ(ledger(redis).size(), 2u);
    EXPECT_EQ(node2.stop(), 0) << node2.output();
    node1.signal(SIGTERM);
    EXPECT_EQ(node1.wait(), 0) << node1.output();
}

// A restarted server is the supervisor thread's child: it must still die with a killed node.
TEST(GameLocalRedis, ARestartedRedisStillDiesWithAKilledNode) {
    TempDir dir;
    dir.write("node.lua", default_with(dir, "local_redis_port = 0\n"));
    Process node({SKYHIVE_BINARY, dir.file("node.lua")}, dir.file("out.log"), SKYHIVE_SOURCE_DIR);
    int redis_port = number_after(node, "started local redis-server on 127.0.0.1:");
    ASSERT_GT(redis_port, 0) << node.output();
    // The game is up (its start needs Redis).
    ASSERT_TRUE(node.wait_for_output("play: telnet 127.0.0.1 ")) << node.output();
    ASSERT_EQ(::kill(server_pid(redis_port), SIGKILL), 0);
    ASSERT_TRUE(node.wait_for_output("restarted local redis-server")) << node.output();
    ASSERT_TRUE(redis_answers(redis_port));
    node.signal(SIGKILL);
    node.wait();
    bool gone = false;
    for (auto until = Clock::now() + kDeadline; Clock::now() < until && !gone;) {
        gone = !redis_answers(redis_port);
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(gone) << "a restarted redis-server outlived a killed node";
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

    // A bad port names the file and line (the seventh: the first after default_with's six).
    dir.write("badport.lua", default_with(dir, "local_redis_port = 70000\n"));
    Process badport({SKYHIVE_BINARY, dir.file("badport.lua")}, dir.file("badport.log"),
                    SKYHIVE_SOURCE_DIR);
    EXPECT_EQ(badport.wait(), 2);
    EXPECT_NE(badport.output().find("badport.lua:7"), std::string::npos) << badport.output();

    // So does a bad appendfsync.
    dir.write("badfsync.lua", default_with(dir, "local_redis_fsync = \"sometimes\"\n"));
    Process badfsync({SKYHIVE_BINARY, dir.file("badfsync.lua")}, dir.file("badfsync.log"),
                     SKYHIVE_SOURCE_DIR);
    EXPECT_EQ(badfsync.wait(), 2);
    EXPECT_NE(badfsync.output().find(
                  "badfsync.lua:7: key 'local_redis_fsync': expected always or everysec"),
              std::string::npos)
        << badfsync.output();
}

}  // namespace
}  // namespace skyhive::test::game
