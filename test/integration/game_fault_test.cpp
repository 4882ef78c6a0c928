// The game under faults that used to break it: a session kicked while its node was frozen,
// a logout while Redis is down, an error inside login, a save that fails at shutdown, and the
// console killing a service the game cannot live without. Real node processes and real
// redis-server processes; faults come from signals and from corrupting what Redis holds.
#include <gtest/gtest.h>
#include <signal.h>

#include "test/integration/game_support.h"

namespace skyhive::test::game {
namespace {

class GameFaultTest : public GameFixture {
  protected:
    RedisProcess::Options redis_options() const override {
        RedisProcess::Options o;
        // Every write reaches the disk before it is answered: a killed server restarts with
        // what it acknowledged.
        o.config = {"appendonly yes", "appendfsync always"};
        return o;
    }
};

// Asks `f` until it returns true or the deadline passes.
template <typename F>
bool eventually(F f, std::chrono::seconds limit = kDeadline) {
    for (auto until = Clock::now() + limit; Clock::now() < until;) {
        if (f()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return f();
}

// Logs kim in on `fresh` (node 2) while node 1, which holds her, is frozen: retried until node 1's
// heartbeat has expired and node 2 may take the name.
void take_over_kim(Player& fresh) {
    std::string reply;
    EXPECT_TRUE(eventually([&] {
        reply = fresh.command("login kim secret");
        return reply.rfind("welcome back kim", 0) == 0;
    })) << reply;
}

// The old session got the kick, and node 1's service count (read on its console) comes back to
// `baseline`: the session's agent has ended.
void expect_kicked_and_retired(Player& old_session, GameNode& n1, int console, int baseline) {
    EXPECT_NE(old_session.wait_notice("[kick]"), "") << n1.output();
    EXPECT_TRUE(eventually([&] { return service_count(console) == baseline; }))
        << "services: " << service_count(console) << ", baseline " << baseline << "\n"
        << n1.output();
}

// Node 1 is frozen long enough for its heartbeat to expire, the player logs in on node 2, and
// node 1 wakes with a command of the old session waiting to be read. The old session is kicked,
// its agent ends and the node's service count returns to what it was before the player came.
TEST_F(GameFaultTest, AKickedSessionRetiresItsAgent) {
    GameNode n1(dir_, "n1", redis_port()), n2(dir_, "n2", redis_port());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    int console = n1.console_port();
    ASSERT_GT(console, 0) << n1.output();
    const int baseline = service_count(console);
    ASSERT_GT(baseline, 0);

    auto old_session = std::make_unique<Player>(n1.port());
    ASSERT_TRUE(old_session->ready());
    EXPECT_EQ(old_session->command("login kim secret"),
              "welcome kim: you are new here and have 100 gold");
    EXPECT_EQ(service_count(console), baseline + 1);  // the agent

    n1.signal(SIGSTOP);
    Player fresh(n2.port());
    take_over_kim(fresh);
    // Read by node 1's agent as soon as it runs again, while the kick is on its way.
    ASSERT_TRUE(old_session->send_raw("gold\r\n"));
    n1.signal(SIGCONT);

    expect_kicked_and_retired(*old_session, n1, console, baseline);
    EXPECT_EQ(n1.output().find("already waiting on this socket"), std::string::npos) << n1.output();
    EXPECT_EQ(fresh.command("gold"), "you have 100 gold");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

// The same with the old session idle, waiting for input: the kick comes when node 1 next touches
// the record (here a gift to the player from someone on node 1) and closes the connection.
TEST_F(GameFaultTest, AKickedIdleSessionRetiresItsAgent) {
    GameNode n1(dir_, "n1", redis_port()), n2(dir_, "n2", redis_port());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    int console = n1.console_port();
    Player giver(n1.port());
    EXPECT_EQ(giver.command("login lea secret"), "welcome lea: you are new here and have 100 gold");
    const int baseline = service_count(console);
    auto old_session = std::make_unique<Player>(n1.port());
    EXPECT_EQ(old_session->command("login kim secret"),
              "welcome kim: you are new here and have 100 gold");

    n1.signal(SIGSTOP);
    Player fresh(n2.port());
    take_over_kim(fresh);
    n1.signal(SIGCONT);
    EXPECT_EQ(giver.command("give kim 5"), "gave 5 gold to kim; you have 95 gold");
    expect_kicked_and_retired(*old_session, n1, console, baseline);
    EXPECT_EQ(fresh.command("gold"), "you have 105 gold");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

// A player quits on node 2 while Redis is down, so node 2 cannot release the name. Once Redis is
// back (with its data), node 2 notices by itself and the name is free on node 1 within seconds,
// without any restart.
TEST_F(GameFaultTest, ALogoutDuringARedisOutageDoesNotLeaveAGhost) {
    GameNode n1(dir_, "n1", redis_port()), n2(dir_, "n2", redis_port());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    {
        Player ana(n2.port());
        EXPECT_EQ(ana.command("login ana secret"),
                  "welcome ana: you are new here and have 100 gold");
        redis_->signal(SIGKILL);
        EXPECT_EQ(ana.command("quit").rfind("bye", 0), 0u);
    }
    ASSERT_TRUE(redis_->restart()) << "redis-server did not restart";
    RespClient redis(redis_port());
    Player again(n1.port());
    std::string reply;
    EXPECT_TRUE(eventually([&] {
        reply = again.command("login ana secret");
        return reply.rfind("welcome back ana", 0) == 0;
    })) << reply
        << "\n"
        << n2.output();
    EXPECT_EQ(redis.command({"HGET", "game:online", "ana"}).str, "n1");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

// An error inside login (here a damaged record) is answered, leaves no half-done login behind
// and does not keep the name: once the record is repaired, the same name logs in.
TEST_F(GameFaultTest, AnErrorInLoginFreesTheName) {
    GameNode n1(dir_, "n1", redis_port());
    ASSERT_TRUE(n1.start()) << n1.output();
    RespClient redis(redis_port());
    {
        Player zoe(n1.port());
        EXPECT_EQ(zoe.command("login zoe secret"),
                  "welcome zoe: you are new here and have 100 gold");
        EXPECT_EQ(zoe.command("quit"), "bye: your progress is saved");
    }
    ASSERT_EQ(redis.command({"HSET", "game:player:zoe", "gold", "plenty"}).type, ':');
    Player p(n1.port());
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(p.command("login zoe secret"), "login failed (internal error), try again");
        EXPECT_TRUE(redis.command({"HGET", "game:online", "zoe"}).null);
    }
    EXPECT_NE(n1.output().find("game:player:zoe is damaged"), std::string::npos) << n1.output();
    EXPECT_EQ(redis.command({"HGET", "game:player:zoe", "logins"}).str, "1");  // nothing written
    ASSERT_EQ(redis.command({"HSET", "game:player:zoe", "gold", "50"}).type, ':');
    EXPECT_EQ(p.command("login zoe secret"), "welcome back zoe: 50 gold, login #2, 0 lines said");
    EXPECT_EQ(p.command("gold"), "you have 50 gold");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
}

// With Redis gone, a player's unsaved progress cannot be saved: quitting says so, shutdown says
// so to each player it could not save, logs it and exits with status 1. Nobody hears "saved".
TEST_F(GameFaultTest, AFailedSaveIsToldNotHidden) {
    GameNode n1(dir_, "n1", redis_port(), "game_flush_interval = 1000000\n");
    ASSERT_TRUE(n1.start()) << n1.output();
    Player rob(n1.port()), sue(n1.port());
    EXPECT_EQ(rob.command("login rob secret"), "welcome rob: you are new here and have 100 gold");
    EXPECT_EQ(sue.command("login sue secret"), "welcome sue: you are new here and have 100 gold");
    EXPECT_EQ(rob.command("say unsaved"), "you say: unsaved");
    EXPECT_EQ(sue.command("say unsaved too"), "you say: unsaved too");
    redis_->signal(SIGKILL);
    EXPECT_EQ(sue.command("quit"),
              "bye: your progress could not be saved (storage unavailable); the server keeps "
              "trying");
    EXPECT_EQ(n1.stop(), 1) << n1.output();
    EXPECT_EQ(rob.wait_notice("[server]"),
              "[server] shutting down; your progress could not be saved (storage unavailable)");
    for (auto& n : rob.notices)
        EXPECT_EQ(n.find("is saved"), std::string::npos) << n;
    EXPECT_NE(n1.output().find("players saved (2 failed)"), std::string::npos) << n1.output();
    EXPECT_NE(n1.output().find("rob could not be saved at shutdown"), std::string::npos)
        << n1.output();
}

// The world and the service that saves at shutdown are critical: the console refuses to kill
// them unless forced, so the game keeps playing and SIGTERM still saves.
TEST_F(GameFaultTest, TheConsoleDoesNotKillCriticalServices) {
    GameNode n1(dir_, "n1", redis_port());
    ASSERT_TRUE(n1.start()) << n1.output();
    int console_port = n1.console_port();
    std::string world, agent;
    Player p(n1.port());
    EXPECT_EQ(p.command("login ivy secret"), "welcome ivy: you are new here and have 100 gold");
    for (auto& line : console(console_port, "list").lines) {
        if (line.find("snlua world ") != std::string::npos) world = line.substr(0, line.find(' '));
    }
    ASSERT_FALSE(world.empty());
    for (const std::string& target : {world, std::string(".shutdown")}) {
        ConsoleReply out = console(console_port, "kill " + target);
        EXPECT_EQ(out.status, ConsoleReply::Status::error) << target;
        ASSERT_FALSE(out.lines.empty());
        const std::string& last = out.lines.back();
        EXPECT_NE(last.find("is critical"), std::string::npos) << last;
        EXPECT_NE(last.find("kill " + target + " force"), std::string::npos) << last;
    }
    EXPECT_EQ(console(console_port, "kill " + world + " gently").status,
              ConsoleReply::Status::error);
    EXPECT_EQ(p.command("say still here"), "you say: still here");
    EXPECT_EQ(p.command("gold"), "you have 100 gold");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(p.wait_notice("[server]"), "[server] shutting down; your progress is saved");
    RespClient redis(redis_port());
    EXPECT_EQ(redis.command({"HGET", "game:player:ivy", "said"}).str, "1");
}

// Forced anyway: a killed world is replaced (players log in again and find their state in
// Redis), and with the game service killed the world takes over the save at SIGTERM.
TEST_F(GameFaultTest, ForcedKillsOfCriticalServicesAreSurvived) {
    GameNode n1(dir_, "n1", redis_port());
    ASSERT_TRUE(n1.start()) << n1.output();
    int console_port = n1.console_port();
    auto world_address = [&] {
        for (auto& line : console(console_port, "list").lines)
            if (line.find("snlua world ") != std::string::npos)
                return line.substr(0, line.find(' '));
        return std::string();
    };
    Player p(n1.port()), q(n1.port());
    EXPECT_EQ(p.command("login ivy secret"), "welcome ivy: you are new here and have 100 gold");
    EXPECT_EQ(q.command("login jon secret"), "welcome jon: you are new here and have 100 gold");
    EXPECT_EQ(p.command("give jon 30"), "gave 30 gold to jon; you have 70 gold");
    std::string old_world = world_address();
    ASSERT_FALSE(old_world.empty());
    EXPECT_TRUE(console(console_port, "kill " + old_world + " force").ok());
    EXPECT_EQ(p.wait_notice("[server] the game"), "[server] the game restarted: log in again")
        << n1.output();
    EXPECT_NE(world_address(), old_world);
    std::string reply;
    EXPECT_TRUE(eventually([&] {
        reply = p.command("login ivy secret");
        return reply.rfind("welcome back ivy: 70 gold", 0) == 0;
    })) << reply
        << "\n"
        << n1.output();
    EXPECT_EQ(q.command("gold"), "not logged in: type login <name> <password> first");
    EXPECT_EQ(q.command("login jon secret").rfind("welcome back jon: 130 gold", 0), 0u);
    EXPECT_EQ(p.command("give jon 5"), "gave 5 gold to jon; you have 65 gold");
    EXPECT_EQ(q.command("say still here"), "you say: still here");
    EXPECT_EQ(p.command("who"), "2 online: ivy@n1 jon@n1");

    EXPECT_TRUE(console(console_port, "kill .shutdown force").ok());
    EXPECT_TRUE(eventually([&] {
        return n1.output().find("handles .shutdown now") != std::string::npos;
    })) << n1.output();
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(q.wait_notice("[server] shutting"), "[server] shutting down; your progress is saved");
    RespClient redis(redis_port());
    EXPECT_EQ(redis.command({"HGET", "game:player:jon", "said"}).str, "1");
    EXPECT_EQ(redis.command({"HLEN", "game:online"}).integer, 0);
}

}  // namespace
}  // namespace skyhive::test::game
