// The game on a Redis watched by Sentinel (config/sentinel.lua's keys): two nodes find the master
// through the sentinels and keep playing, chatting and trading after a failover moved it.
#include <gtest/gtest.h>

#include <thread>

#include "test/integration/game_support.h"
#include "test/support/sentinel_topology.h"

namespace skyhive::test::game {
namespace {

// The first reply to `line` that does not say to try again, asking until the deadline.
std::string until_done(Player& p, const std::string& line) {
    std::string reply;
    for (auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
        reply = p.command(line);
        if (reply.find("try again") == std::string::npos &&
            reply.find("may or may not") == std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return reply;
}

TEST(GameSentinel, TwoNodesPlayThroughAFailover) {
    SentinelTopology::Options o;
    o.replicas = 1;
    auto t = SentinelTopology::start(o);
    ASSERT_TRUE(t) << t.error().message;
    auto& topology = *t.value();
    std::string sentinels;
    for (auto& s : topology.sentinels())
        sentinels += (sentinels.empty() ? "" : ",") + s->address();
    const std::string config = "redis_sentinels = \"" + sentinels +
                               "\"\n"
                               "redis_master = \"mymaster\"\n";
    const int first_master = topology.master_port();
    ASSERT_GT(first_master, 0);

    TempDir dir;
    // `redis` is set too, but the sentinels win.
    GameNode n1(dir, "n1", first_master, config), n2(dir, "n2", first_master, config);
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    EXPECT_NE(n1.output().find("via sentinels"), std::string::npos) << n1.output();

    Player alice(n1.port()), bob(n2.port());
    EXPECT_EQ(alice.command("login alice secret"),
              "welcome alice: you are new here and have 100 gold");
    EXPECT_EQ(bob.command("login bob secret"), "welcome bob: you are new here and have 100 gold");
    EXPECT_EQ(alice.command("give bob 10"), "gave 10 gold to bob; you have 90 gold");
    EXPECT_EQ(bob.wait_notice("[gold]"), "[gold] alice gave you 10 gold; you have 110");

    // A graceful failover: the replica becomes the master.
    auto failover =
        resp_query(topology.sentinels()[0]->port(), {"SENTINEL", "FAILOVER", "mymaster"});
    ASSERT_TRUE(failover) << failover.error().message;
    int master = first_master;
    for (auto until = Clock::now() + std::chrono::seconds(30);
         master == first_master && Clock::now() < until;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        master = topology.master_port();
    }
    ASSERT_NE(master, first_master) << "no failover";

    // Both nodes write to the new master: presence, chat across nodes both ways (pub/sub
    // messages sent while a node's watcher moves are lost, as Redis does not keep them: say
    // again until heard), then a transfer and its news.
    EXPECT_EQ(until_done(alice, "who"), "2 online: alice@n1 bob@n2");
    auto heard = [](Player& from, Player& to, const std::string& text) {
        for (auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
            if (until_done(from, "say " + text) != "you say: " + text) return false;
            auto deadline = Clock::now() + std::chrono::milliseconds(500);
            while (Clock::now() < deadline) {
                for (auto& n : to.notices)
                    if (n.find(": " + text) != std::string::npos) return true;
                to.command("gold");  // reads what has arrived meanwhile
            }
        }
        return false;
    };
    EXPECT_TRUE(heard(alice, bob, "to bob"));
    EXPECT_TRUE(heard(bob, alice, "to alice"));
    EXPECT_EQ(until_done(bob, "give alice 20"), "gave 20 gold to alice; you have 90 gold");
    EXPECT_EQ(alice.wait_notice("bob gave"), "[gold] bob gave you 20 gold; you have 110");
    EXPECT_EQ(alice.command("gold"), "you have 110 gold");

    auto gold = resp_query(master, {"HGET", "game:player:alice", "gold"});
    ASSERT_TRUE(gold) << gold.error().message;
    EXPECT_EQ(gold.value().at(0), "110");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

}  // namespace
}  // namespace skyhive::test::game
