// The game as players use it: scripted telnet sessions against two real node processes sharing
// one real redis-server. Login, who, say, tell and give across nodes and to offline players,
// bad input, and player state surviving logout and a node restart.
#include <gtest/gtest.h>
#include <signal.h>

#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "test/integration/admin_support.h"
#include "test/integration/game_support.h"

namespace skyhive::test::game {
namespace {

// Logs in, asking again while the name is still held by a session that just quit (quit is
// answered before the logout has left presence).
std::string login_when_free(Player& p, const std::string& name) {
    std::string reply;
    for (auto until = Clock::now() + kDeadline; Clock::now() < until;) {
        reply = p.command("login " + name + " secret");
        if (reply.find("is already playing on") == std::string::npos) break;
    }
    return reply;
}

using GameTest = GameFixture;

TEST_F(GameTest, BadInputIsAnsweredAndTheConnectionStaysUsable) {
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    Player p(node.port());
    ASSERT_TRUE(p.ready());

    EXPECT_EQ(p.command("gold"), "not logged in: type login <name> <password> first");
    EXPECT_EQ(p.command("give bob 5"), "not logged in: type login <name> <password> first");
    EXPECT_EQ(p.command("dance"), "unknown command \"dance\": type help");
    EXPECT_EQ(p.command("login"), "usage: login <name> <password>");
    EXPECT_EQ(p.command("login alice"), "usage: login <name> <password>");
    EXPECT_EQ(p.command("login three words here"), "usage: login <name> <password>");
    EXPECT_EQ(p.command("login alice abc"), "bad password: 4 to 64 characters, no spaces");
    EXPECT_EQ(p.command("login alice " + std::string(65, 'p')),
              "bad password: 4 to 64 characters, no spaces");
    EXPECT_EQ(p.command("login b@d secret"), "bad name: 1 to 16 letters, digits, _ or -");
    EXPECT_EQ(p.command("login " + std::string(17, 'x') + " secret"),
              "bad name: 1 to 16 letters, digits, _ or -");
    // An overlong line is refused once, whether it arrives whole or in pieces, and skipped.
    EXPECT_EQ(p.command("say " + std::string(600, 'a')), "line too long (over 512 bytes): ignored");
    ASSERT_TRUE(p.send_raw(std::string(400, 'b')));
    ASSERT_TRUE(p.send_raw(std::string(400, 'b')));
    EXPECT_EQ(p.reply(), "line too long (over 512 bytes): ignored");
    ASSERT_TRUE(p.send_raw(std::string(3000, 'c') + "\n"));
    // Empty lines are no commands; the next real one is answered.
    EXPECT_EQ(p.command("\r\n\r\nlogin alice secret"),
              "welcome alice: you are new here and have 100 gold");
    EXPECT_EQ(p.command("login alice secret"), "you are already logged in as alice");
    EXPECT_EQ(p.command("give"), "usage: give <player> <amount>");
    EXPECT_EQ(p.command("give bob"), "usage: give <player> <amount>");
    for (const char* bad : {"0", "-5", "1.5", "ten", "99999999999999999999", "1000000001"})
        EXPECT_EQ(p.command(std::string("give bob ") + bad),
                  "amount must be a whole number from 1 to 1000000000")
            << bad;
    EXPECT_EQ(p.command("give zed 5"), "unknown player zed");
    EXPECT_EQ(p.command("give alice 5"), "you cannot give gold to yourself");
    EXPECT_EQ(p.command("say"), "usage: say <text>");
    // Terminal escapes do not reach the other players.
    EXPECT_EQ(p.command("say \x1b[2Jgone\x07"), "you say: ?[2Jgone?");
    // After all that, the session works and nothing moved.
    EXPECT_EQ(p.command("GOLD"), "you have 100 gold");
    EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    EXPECT_EQ(node.stop(), 0) << node.output();
}

// A player's connection has TCP_NODELAY. Without it, a reply written while a notice ([gold],
// [tell], chat) is still unacknowledged waits for the client's delayed ACK (40 ms on Linux):
// under the game benchmark a tenth of all commands took 40-48 ms that way.
TEST_F(GameTest, PlayersConnectionsSendWithoutWaitingForAcks) {
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    Player p(node.port()), q(node.port());
    ASSERT_TRUE(p.ready());
    ASSERT_TRUE(q.ready());
    EXPECT_EQ(p.command("login alice secret"), "welcome alice: you are new here and have 100 gold");

    ConsoleReply net = console(node.console_port(), "netstat");
    ASSERT_TRUE(net.ok());
    // Columns: id type state owner address port read write wbuffer rtime wtime nodelay.
    int players = 0;
    for (auto& line : net.lines) {
        std::istringstream in(line);
        std::vector<std::string> f{std::istream_iterator<std::string>(in), {}};
        if (f.size() != 12 || f[1] != "tcp" || f[5] != std::to_string(node.port())) continue;
        ++players;
        EXPECT_EQ(f[11], "yes") << line;
    }
    EXPECT_EQ(players, 2) << "the two players' connections, logged in or not";
    EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST_F(GameTest, TwoNodesShareWhoChatAndGold) {
    GameNode n1(dir_, "n1", redis_port()), n2(dir_, "n2", redis_port());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    RespClient redis(redis_port());

    // carol exists but is offline.
    {
        Player carol(n1.port());
        EXPECT_EQ(carol.command("login carol secret"),
                  "welcome carol: you are new here and have 100 gold");
        EXPECT_EQ(carol.command("quit"), "bye: your progress is saved");
    }
    Player alice(n1.port()), bob(n2.port());
    ASSERT_TRUE(alice.ready() && bob.ready());
    EXPECT_EQ(alice.command("login alice secret"),
              "welcome alice: you are new here and have 100 gold");
    EXPECT_EQ(bob.command("login bob secret"), "welcome bob: you are new here and have 100 gold");
    // carol's logout has left presence by now (quit answers after the logout call started,
    // so ask until it shows).
    std::string who;
    for (auto until = Clock::now() + kDeadline; Clock::now() < until;) {
        who = alice.command("who");
        if (who == "2 online: alice@n1 bob@n2") break;
    }
    EXPECT_EQ(who, "2 online: alice@n1 bob@n2");
    EXPECT_EQ(bob.command("who"), "2 online: alice@n1 bob@n2");

    // One name, one session, across nodes.
    {
        Player twin(n1.port());
        EXPECT_EQ(twin.command("login bob secret"), "bob is already playing on n2");
        Player same(n2.port());
        EXPECT_EQ(same.command("login bob secret"), "bob is already playing on this node");
    }

    // Chat reaches the other node; the speaker gets the reply, not an echo.
    EXPECT_EQ(alice.command("say hello from n1"), "you say: hello from n1");
    EXPECT_EQ(bob.wait_notice("[chat]"), "[chat] alice@n1: hello from n1");
    EXPECT_EQ(bob.command("say hi alice"), "you say: hi alice");
    EXPECT_EQ(alice.wait_notice("[chat]"), "[chat] bob@n2: hi alice");

    // Gold across nodes: the receiver is told and their balance is up to date.
    EXPECT_EQ(alice.command("give bob 30"), "gave 30 gold to bob; you have 70 gold");
    EXPECT_EQ(bob.wait_notice("[gold]"), "[gold] alice gave you 30 gold; you have 130");
    EXPECT_EQ(bob.command("gold"), "you have 130 gold");
    EXPECT_EQ(alice.command("gold"), "you have 70 gold");
    EXPECT_EQ(alice.command("give bob 71"), "not enough gold: you have 70");
    // To an offline player, who finds it at the next login.
    EXPECT_EQ(bob.command("give carol 25"), "gave 25 gold to carol; you have 105 gold");
    {
        Player carol(n2.port());
        EXPECT_EQ(login_when_free(carol, "carol"),
                  "welcome back carol: 125 gold, login #2, 0 lines said");
        // Both directions between two nodes, the receiver on the same node as the giver.
        EXPECT_EQ(carol.command("give bob 5"), "gave 5 gold to bob; you have 120 gold");
        EXPECT_EQ(bob.wait_notice("carol gave"), "[gold] carol gave you 5 gold; you have 110");
    }
    auto gold = balances(redis);
    EXPECT_EQ(gold["alice"], 70);
    EXPECT_EQ(gold["bob"], 110);
    EXPECT_EQ(gold["carol"], 120);
    EXPECT_EQ(ledger(redis).size(), 3u);

    EXPECT_EQ(n1.stop(), 0) << n1.output();
    // alice was logged out by the shutdown: node2 sees only its own players.
    EXPECT_EQ(bob.command("who"), "1 online: bob@n2");
    EXPECT_EQ(n2.stop(SIGINT), 0) << n2.output();
    // A clean stop leaves no presence, heartbeat or lock behind.
    EXPECT_EQ(redis.command({"HLEN", "game:online"}).integer, 0);
    EXPECT_TRUE(redis.command({"KEYS", "game:node:*"}).elements.empty());
    EXPECT_TRUE(redis.command({"KEYS", "game:lock:*"}).elements.empty());
}

TEST_F(GameTest, StateSurvivesLogoutAndNodeRestart) {
    // Saves only at logout and shutdown here, never by the timer, to show that those save.
    const std::string no_timer = "game_flush_interval = 1000000\n";
    GameNode node(dir_, "n1", redis_port(), no_timer);
    GameNode other(dir_, "n2", redis_port(), no_timer);
    ASSERT_TRUE(node.start()) << node.output();
    ASSERT_TRUE(other.start()) << other.output();
    {
        Player p(node.port());
        EXPECT_EQ(p.command("login dora secret"),
                  "welcome dora: you are new here and have 100 gold");
        for (int i = 0; i < 3; ++i)
            EXPECT_EQ(p.command("say line " + std::to_string(i)),
                      "you say: line " + std::to_string(i));
        EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    }
    {
        // Logged out on one node, in on the other at once: the logout saved first.
        Player p(other.port());
        EXPECT_EQ(login_when_free(p, "dora"),
                  "welcome back dora: 100 gold, login #2, 3 lines said");
        EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    }
    Player p(node.port());
    EXPECT_EQ(login_when_free(p, "dora"), "welcome back dora: 100 gold, login #3, 3 lines said");
    EXPECT_EQ(p.command("say once more"), "you say: once more");
    {
        Player eve(node.port());
        EXPECT_EQ(eve.command("login eve secret"),
                  "welcome eve: you are new here and have 100 gold");
        EXPECT_EQ(eve.command("give dora 40"), "gave 40 gold to dora; you have 60 gold");
    }
    // Shutdown saves the online player and tells them.
    EXPECT_EQ(node.stop(), 0) << node.output();
    EXPECT_EQ(p.wait_notice("[server]"), "[server] shutting down; your progress is saved");
    EXPECT_NE(node.output().find("players saved (0 failed)"), std::string::npos) << node.output();
    ASSERT_TRUE(node.start()) << node.output();
    Player again(node.port());
    EXPECT_EQ(again.command("login dora secret"),
              "welcome back dora: 140 gold, login #4, 4 lines said");
    EXPECT_EQ(again.command("login eve secret"), "you are already logged in as dora");
    Player eve(other.port());
    EXPECT_EQ(login_when_free(eve, "eve"), "welcome back eve: 60 gold, login #2, 0 lines said");
    EXPECT_EQ(node.stop(), 0);
    EXPECT_EQ(other.stop(), 0);
}

// A tell reaches a player on either node; the gold news of a give to a player on the other
// node comes through the cluster: both nodes are told not to listen to game:notify, so news
// sent by pub/sub would never arrive.
TEST_F(GameTest, TellAndGoldNewsCrossNodesThroughTheCluster) {
    const std::string no_pubsub = "game_notify_pubsub = false\n";
    GameNode n1(dir_, "n1", redis_port(), no_pubsub), n2(dir_, "n2", redis_port(), no_pubsub);
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    {
        Player carol(n1.port());
        EXPECT_EQ(carol.command("login carol secret"),
                  "welcome carol: you are new here and have 100 gold");
        EXPECT_EQ(carol.command("quit"), "bye: your progress is saved");
    }
    Player alice(n1.port()), dave(n1.port()), bob(n2.port());
    ASSERT_TRUE(alice.ready() && dave.ready() && bob.ready());
    EXPECT_EQ(alice.command("login Alice secret"),
              "welcome Alice: you are new here and have 100 gold");
    EXPECT_EQ(login_when_free(dave, "dave"), "welcome dave: you are new here and have 100 gold");
    EXPECT_EQ(bob.command("login bob secret"), "welcome bob: you are new here and have 100 gold");

    // Across nodes, both ways, and on the same node.
    EXPECT_EQ(alice.command("tell BOB hello there"), "told bob");
    EXPECT_EQ(bob.wait_notice("[tell]"), "[tell] Alice@n1: hello there");
    EXPECT_EQ(bob.command("tell alice hi"), "told Alice");
    EXPECT_EQ(alice.wait_notice("[tell]"), "[tell] bob@n2: hi");
    EXPECT_EQ(alice.command("tell dave psst"), "told dave");
    EXPECT_EQ(dave.wait_notice("[tell]"), "[tell] Alice@n1: psst");
    // Terminal escapes do not reach the other player.
    EXPECT_EQ(alice.command("tell bob \x1b[2Jgone"), "told bob");
    EXPECT_EQ(bob.wait_notice("gone"), "[tell] Alice@n1: ?[2Jgone");

    // Nobody to tell, and bad input.
    EXPECT_EQ(alice.command("tell carol are you there"), "carol is not online");
    EXPECT_EQ(alice.command("tell zed hello"), "zed is not online");
    EXPECT_EQ(alice.command("tell b@d hello"), "b@d is not online");
    EXPECT_EQ(alice.command("tell alice me"), "you cannot tell yourself");
    EXPECT_EQ(alice.command("tell bob"), "usage: tell <player> <text>");
    EXPECT_EQ(alice.command("tell bob " + std::string(401, 'x')),
              "too long: a tell is at most 400 bytes");
    EXPECT_EQ(dave.command("tell bob " + std::string(400, 'y')), "told bob");
    EXPECT_EQ(bob.wait_notice("yyy"), "[tell] dave@n1: " + std::string(400, 'y'));

    // Gold news across nodes, both ways.
    EXPECT_EQ(alice.command("give bob 30"), "gave 30 gold to bob; you have 70 gold");
    EXPECT_EQ(bob.wait_notice("[gold]"), "[gold] Alice gave you 30 gold; you have 130");
    EXPECT_EQ(bob.command("give dave 5"), "gave 5 gold to dave; you have 125 gold");
    EXPECT_EQ(dave.wait_notice("[gold]"), "[gold] bob gave you 5 gold; you have 105");
    EXPECT_EQ(bob.command("gold"), "you have 125 gold");

    // The node that has bob dies: its presence outlives it for a heartbeat's TTL, and a tell
    // meanwhile says the node cannot be reached rather than waiting.
    n2.kill();
    std::string reply = alice.command("tell bob are you there");
    EXPECT_EQ(reply.rfind("n2 is unreachable: ", 0), 0u) << reply;
    // The node serves the cluster under its game name, and leaves the membership when it stops.
    EXPECT_NE(n1.output().find("cluster: node n1 listening on 127.0.0.1:"), std::string::npos)
        << n1.output();
    RespClient redis(redis_port());
    EXPECT_EQ(redis.command({"EXISTS", "{skyhive:cluster}:node:n1"}).integer, 1);
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(redis.command({"EXISTS", "{skyhive:cluster}:node:n1"}).integer, 0);
}

// The value of the sample `series` (name and labels, as /metrics writes them) in node n's
// metrics, 0 when absent (a counter not counted yet).
double metric(const GameNode& n, const std::string& series) {
    auto reply = admin::get(admin::admin_port(n.output()), "/metrics");
    size_t at = reply.body.find("\n" + series + " ");
    return at == std::string::npos ? 0 : std::atof(reply.body.c_str() + at + series.size() + 2);
}

// Gives made at once on node n1 to a player on n2 (the nodes' configs get `extra`): every news
// arrives, once, and in the order the gold moved, so the balances the notices show climb by one
// up to what Redis holds; n1 counts every news as having left `via` and none another way.
void concurrent_gold_news(const TempDir& dir, int redis_port, const std::string& extra,
                          const std::string& via) {
    GameNode n1(dir, "n1", redis_port, extra), n2(dir, "n2", redis_port, extra);
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    constexpr int kGivers = 4, kEach = 10;
    std::vector<std::unique_ptr<Player>> givers;
    for (int g = 0; g < kGivers; ++g) {
        givers.push_back(std::make_unique<Player>(n1.port()));
        ASSERT_TRUE(givers.back()->ready());
        const std::string name = "giver" + std::to_string(g);
        EXPECT_EQ(givers.back()->command("login " + name + " secret"),
                  "welcome " + name + ": you are new here and have 100 gold");
    }
    Player bob(n2.port());
    ASSERT_TRUE(bob.ready());
    EXPECT_EQ(bob.command("login bob secret"), "welcome bob: you are new here and have 100 gold");

    // Every giver's commands in one write: the transfers of the four run side by side.
    std::string lines;
    for (int k = 0; k < kEach; ++k)
        lines += "give bob 1\r\n";
    for (auto& g : givers)
        ASSERT_TRUE(g->send_raw(lines));
    for (int g = 0; g < kGivers; ++g)
        for (int k = 0; k < kEach; ++k) {
            std::string reply = givers[g]->reply();
            EXPECT_EQ(reply.rfind("gave 1 gold to bob; you have ", 0), 0u) << g << ": " << reply;
        }

    const int total = kGivers * kEach;
    const std::string last = "you have " + std::to_string(100 + total);
    EXPECT_NE(bob.wait_notice(last), "") << n1.output();
    ASSERT_EQ(bob.notices.size(), size_t(total));
    for (int i = 0; i < total; ++i) {
        const std::string& n = bob.notices[i];
        EXPECT_EQ(n.rfind("[gold] giver", 0), 0u) << n;
        EXPECT_NE(n.find(" gave you 1 gold; you have " + std::to_string(101 + i)),
                  std::string::npos)
            << "notice " << i << ": " << n;
    }
    EXPECT_EQ(bob.command("gold"), "you have " + std::to_string(100 + total) + " gold");
    for (const char* way : {"channel", "cluster", "pubsub"})
        EXPECT_EQ(metric(n1, std::string("skyhive_game_gold_news_total{node=\"n1\",via=\"") + way +
                                 "\"}"),
                  way == via ? total : 0)
            << way;
    EXPECT_EQ(n1.output().find("trying pub/sub"), std::string::npos) << n1.output();
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

// On one server the transfer script itself publishes the news on the channel of the node that
// has the receiver, in the order the scripts ran.
TEST_F(GameTest, GoldNewsOfConcurrentGivesReachesTheOtherNodesChannelWholeAndInOrder) {
    concurrent_gold_news(dir_, redis_port(), "", "channel");
}

// A node that does not listen to pub/sub gets the news through the cluster instead, in batches
// (one peer_golds call per batch, the rest queued while a call is in flight): no listener heard
// the transfer's publish, so the giver's world sends it.
TEST_F(GameTest, GoldNewsOfConcurrentGivesCrossesNodesThroughTheClusterWholeAndInOrder) {
    concurrent_gold_news(dir_, redis_port(), "game_notify_pubsub = false\n", "cluster");
}

// A node without a cluster config: the gold news goes by pub/sub, and a tell to a player on
// another node says why it cannot be delivered.
TEST_F(GameTest, WithoutAClusterGoldNewsUsesPubSub) {
    const std::string no_cluster = "cluster_listen = nil\n";
    GameNode n1(dir_, "n1", redis_port(), no_cluster), n2(dir_, "n2", redis_port(), no_cluster);
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    Player alice(n1.port()), bob(n2.port());
    ASSERT_TRUE(alice.ready() && bob.ready());
    EXPECT_EQ(alice.command("login alice secret"),
              "welcome alice: you are new here and have 100 gold");
    EXPECT_EQ(bob.command("login bob secret"), "welcome bob: you are new here and have 100 gold");
    EXPECT_EQ(alice.command("give bob 30"), "gave 30 gold to bob; you have 70 gold");
    EXPECT_EQ(bob.wait_notice("[gold]"), "[gold] alice gave you 30 gold; you have 130");
    EXPECT_EQ(alice.command("tell bob hi"),
              "bob is on n2, which this node cannot reach (no cluster)");
    EXPECT_EQ(n1.output().find("cluster: node"), std::string::npos) << n1.output();
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

}  // namespace
}  // namespace skyhive::test::game
