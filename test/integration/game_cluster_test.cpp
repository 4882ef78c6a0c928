// The game on a real Redis Cluster (run under with_cluster: 3 masters with a replica each; one
// ctest entry, game_cluster, runs every test here against that one cluster, emptied before each
// test). Two nodes play on it with `redis_cluster` in their config; a transfer between players
// whose keys are in different slots is a chain of one-slot steps (services/game/bank.lua): the
// receiver sees it, gold is conserved under many concurrent transfers, through a kill -9 of a
// node among them and through a graceful failover of a master, and a transfer whose node died
// between its steps is completed by the other node exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "test/integration/game_support.h"

namespace skyhive::test::game {
namespace {

class GameCluster : public ::testing::Test {
  protected:
    void SetUp() override {
        const char* env = std::getenv("SKYHIVE_TEST_CLUSTER_PORTS");
        ASSERT_NE(env, nullptr) << "SKYHIVE_TEST_CLUSTER_PORTS is not set: run under with_cluster";
        std::istringstream in(env);
        for (int p; in >> p;) {
            ports_.push_back(p);
            seeds_ += (seeds_.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(p);
        }
        ASSERT_FALSE(ports_.empty());
        // An empty cluster for every test.
        for (int p : ports_) {
            RespClient c(p);
            Resp role = c.command({"ROLE"});
            if (!role.elements.empty() && role.elements[0].str == "master") {
                ASSERT_EQ(c.command({"FLUSHALL"}).str, "OK");
            }
        }
    }

    // A command sent to the master that owns its key (follows MOVED).
    Resp command(const std::vector<std::string>& args) {
        int port = ports_[0];
        for (int i = 0; i < 5; ++i) {
            RespClient c(port);
            Resp r = c.command(args);
            if (r.type == '-' && r.str.rfind("MOVED ", 0) == 0) {
                port = std::atoi(r.str.c_str() + r.str.rfind(':') + 1);
                continue;
            }
            return r;
        }
        return {};
    }
    long long gold(const std::string& id) {
        Resp r = command({"HGET", "game:player:{" + id + "}", "gold"});
        return r.null || r.str.empty() ? -1 : std::stoll(r.str);
    }
    long long slot(const std::string& key) {
        return RespClient(ports_[0]).command({"CLUSTER", "KEYSLOT", key}).integer;
    }
    std::vector<Transfer> ledger() {
        std::vector<Transfer> out;
        for (auto& e : command({"XRANGE", "game:{ledger}", "-", "+"}).elements)
            out.push_back(transfer_of(e));
        return out;
    }
    // Polls until cond() holds or 30 s pass.
    template <typename F>
    bool until(F cond) {
        for (auto end = Clock::now() + std::chrono::seconds(30); Clock::now() < end;) {
            if (cond()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return cond();
    }
    // Nothing of a transfer left in flight: the index, and each player's records of it.
    void expect_settled(const std::vector<std::string>& ids) {
        EXPECT_EQ(command({"ZCARD", "game:{ledger}:pending"}).integer, 0);
        for (auto& id : ids) {
            EXPECT_EQ(command({"HLEN", "game:xfer:{" + id + "}"}).integer, 0) << id;
            EXPECT_EQ(command({"SCARD", "game:credited:{" + id + "}"}).integer, 0) << id;
        }
    }
    // The transfers conserved gold once settled: no balance is negative, the sum is the players'
    // starting 100 each, and every balance is 100 plus what the ledger credits it minus what it
    // debits. The ledger holds exactly `acked` entries, or at least that many when `exact` is
    // false (a transfer cut by a failure is completed by recovery without its reply).
    void expect_conserved(const std::vector<std::string>& ids, int acked, bool exact) {
        expect_settled(ids);
        long long sum = 0;
        std::map<std::string, long long> expect;
        for (auto& id : ids) {
            long long g = gold(id);
            EXPECT_GE(g, 0) << id;
            sum += g;
            expect[id] = 100;
        }
        EXPECT_EQ(sum, 100LL * static_cast<long long>(ids.size()));
        auto entries = ledger();
        if (exact)
            EXPECT_EQ(int(entries.size()), acked);
        else
            EXPECT_GE(int(entries.size()), acked);
        for (auto& t : entries) {
            expect[t.from] -= t.amount;
            expect[t.to] += t.amount;
        }
        for (auto& id : ids)
            EXPECT_EQ(gold(id), expect[id]) << id;
    }
    std::string config(const std::string& extra = "") const {
        return "redis_cluster = \"" + seeds_ + "\"\n" + extra;
    }

    // The giver's node dies right after the step named by the hook; the other node completes the
    // transfer once the giver's lock has run out, and the receiver ends up credited once.
    void interrupted(const std::string& wait_key, GameNode& n1, GameNode& n2) {
        Player carol(n1.port()), dave(n2.port());
        ASSERT_EQ(carol.command("login carol secret"),
                  "welcome carol: you are new here and have 100 gold");
        ASSERT_EQ(dave.command("login dave secret"),
                  "welcome dave: you are new here and have 100 gold");
        ASSERT_TRUE(carol.send_raw("give dave 30\r\n"));
        // The step was taken, and the node goes no further: kill it there.
        ASSERT_TRUE(until([&] {
            return command({"EXISTS", wait_key}).integer == 1;
        })) << n1.output();
        n1.kill();
        EXPECT_EQ(gold("carol"), 70) << "debited";
        EXPECT_EQ(command({"ZCARD", "game:{ledger}:pending"}).integer, 1) << "in flight";

        // n2 finds it in flight past the lock's lease and completes it.
        EXPECT_TRUE(until([&] {
            return command({"ZCARD", "game:{ledger}:pending"}).integer == 0;
        })) << n2.output();
        // The node logs the completion after its last step, so the line may trail the index.
        EXPECT_TRUE(until([&] {
            return n2.output().find("carol dave completed (recovered: 30 gold)") !=
                   std::string::npos;
        })) << n2.output();
        EXPECT_EQ(gold("carol"), 70);
        EXPECT_EQ(gold("dave"), 130) << "credited exactly once";
        EXPECT_EQ(dave.command("gold"), "you have 130 gold");
        auto entries = ledger();
        ASSERT_EQ(entries.size(), 1u) << "appended to the ledger once";
        EXPECT_EQ(entries[0].from, "carol");
        EXPECT_EQ(entries[0].to, "dave");
        EXPECT_EQ(entries[0].amount, 30);
    }

    // Logs n new players in, "<prefix>0" to "<prefix><n-1>", the even ones on n1 and the odd
    // ones on n2; each starts with 100 gold.
    void login_players(const std::string& prefix, int n, GameNode& n1, GameNode& n2,
                       std::vector<std::string>& ids,
                       std::vector<std::unique_ptr<Player>>& players) {
        for (int i = 0; i < n; ++i) {
            ids.push_back(prefix + std::to_string(i));
            players.push_back(std::make_unique<Player>(i % 2 ? n2.port() : n1.port()));
            ASSERT_EQ(players.back()->command("login " + ids.back() + " secret"),
                      "welcome " + ids.back() + ": you are new here and have 100 gold");
        }
    }
    // Player i of ids gives 1 to 20 gold (picked by rng) to another, also picked by rng; returns
    // the game's reply.
    static std::string give_someone(Player& player, size_t i, const std::vector<std::string>& ids,
                                    std::mt19937& rng) {
        size_t to = rng() % (ids.size() - 1);
        if (to >= i) ++to;
        return player.command("give " + ids[to] + " " + std::to_string(1 + rng() % 20));
    }

    TempDir dir_;
    std::vector<int> ports_;
    std::string seeds_;
};

// The gold news and tells between the nodes go through the node-to-node cluster (whose membership
// lives on this Redis Cluster): neither node listens to game:notify.
TEST_F(GameCluster, TwoNodesShareWhoChatAndGoldAcrossSlots) {
    ASSERT_NE(slot("game:player:{alice}"), slot("game:player:{bob}"));
    const std::string no_pubsub = config("game_notify_pubsub = false\n");
    GameNode n1(dir_, "n1", ports_[0], no_pubsub), n2(dir_, "n2", ports_[0], no_pubsub);
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    EXPECT_NE(n1.output().find("uses Redis at cluster 127.0.0.1:"), std::string::npos)
        << n1.output();

    Player alice(n1.port()), bob(n2.port());
    EXPECT_EQ(alice.command("login alice secret"),
              "welcome alice: you are new here and have 100 gold");
    EXPECT_EQ(bob.command("login Bob secret"), "welcome Bob: you are new here and have 100 gold");
    EXPECT_EQ(bob.command("login bob secret"), "you are already logged in as Bob");
    Player bob_again(n1.port());
    EXPECT_EQ(bob_again.command("login bob secret"), "bob is already playing on n2");
    EXPECT_EQ(alice.command("who"), "2 online: Bob@n2 alice@n1");

    EXPECT_EQ(alice.command("say hi"), "you say: hi");
    EXPECT_EQ(bob.wait_notice("[chat]"), "[chat] alice@n1: hi");
    EXPECT_EQ(alice.command("tell bob psst"), "told Bob");
    EXPECT_EQ(bob.wait_notice("[tell]"), "[tell] alice@n1: psst");
    EXPECT_EQ(bob.command("tell ALICE yes"), "told alice");
    EXPECT_EQ(alice.wait_notice("[tell]"), "[tell] Bob@n2: yes");
    EXPECT_EQ(bob.command("tell nobody hello"), "nobody is not online");

    EXPECT_EQ(alice.command("give bob 10"), "gave 10 gold to bob; you have 90 gold");
    EXPECT_EQ(bob.wait_notice("[gold]"), "[gold] alice gave you 10 gold; you have 110");
    EXPECT_EQ(bob.command("gold"), "you have 110 gold");
    EXPECT_EQ(bob.command("give alice 200"), "not enough gold: you have 110");
    EXPECT_EQ(bob.command("give alice 5"), "gave 5 gold to alice; you have 105 gold");
    EXPECT_EQ(alice.wait_notice("[gold]"), "[gold] Bob gave you 5 gold; you have 95");
    EXPECT_EQ(alice.command("gold"), "you have 95 gold");
    EXPECT_EQ(alice.command("give nobody 5"), "unknown player nobody");

    EXPECT_EQ(gold("alice"), 95);
    EXPECT_EQ(gold("bob"), 105);
    auto entries = ledger();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].from, "alice");
    EXPECT_EQ(entries[0].to, "bob");
    EXPECT_EQ(entries[0].amount, 10);
    expect_settled({"alice", "bob"});

    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(bob.command("who"), "1 online: Bob@n2");
    EXPECT_EQ(n2.stop(), 0) << n2.output();
    EXPECT_EQ(command({"HLEN", "game:{presence}:online"}).integer, 0);
}

TEST_F(GameCluster, ConcurrentTransfersConserveGold) {
    GameNode n1(dir_, "n1", ports_[0], config()), n2(dir_, "n2", ports_[0], config());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    const int kPlayers = 8, kGives = 30;
    std::vector<std::string> ids;
    std::vector<std::unique_ptr<Player>> players;
    ASSERT_NO_FATAL_FAILURE(login_players("p", kPlayers, n1, n2, ids, players));
    std::map<long long, int> slots;
    for (auto& id : ids)
        ++slots[slot("game:player:{" + id + "}")];
    EXPECT_GT(slots.size(), 4u) << "the players' keys spread over slots";

    std::atomic<int> gave{0}, other{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kPlayers; ++i) {
        threads.emplace_back([&, i] {
            std::mt19937 rng(unsigned(i) * 7919u);
            for (int k = 0; k < kGives; ++k) {
                std::string reply = give_someone(*players[size_t(i)], size_t(i), ids, rng);
                if (reply.rfind("gave ", 0) == 0)
                    ++gave;
                else if (reply.rfind("not enough gold", 0) != 0 &&
                         reply.find("busy, try again") == std::string::npos)
                    ++other;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(other.load(), 0) << "only refusals for gold or a busy lock";
    EXPECT_GT(gave.load(), kPlayers * kGives / 2);

    // Every transfer settled: the sum is whole, none negative, each balance what the ledger says.
    expect_conserved(ids, gave.load(), true);
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

TEST_F(GameCluster, TransfersSurviveANodeKilledAmongThem) {
    GameNode n1(dir_, "n1", ports_[0], config()), n2(dir_, "n2", ports_[0], config());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    const int kPlayers = 8, kGives = 60;
    std::vector<std::string> ids;
    std::vector<std::unique_ptr<Player>> players;
    ASSERT_NO_FATAL_FAILURE(login_players("k", kPlayers, n1, n2, ids, players));
    // Every player gives to the others; n1's players (even) stop when their node is killed
    // under them, in the middle of whatever step their transfers were at.
    std::atomic<int> gave{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kPlayers; ++i) {
        threads.emplace_back([&, i] {
            std::mt19937 rng(unsigned(i) * 104729u);
            for (int k = 0; k < kGives; ++k) {
                std::string reply = give_someone(*players[size_t(i)], size_t(i), ids, rng);
                if (reply.empty()) break;  // the node is gone
                if (reply.rfind("gave ", 0) == 0) ++gave;
            }
        });
    }
    ASSERT_TRUE(until([&] { return gave.load() >= 60; }));
    n1.kill();
    for (auto& t : threads)
        t.join();

    // n2 completes whatever n1 left in flight; then the sum is whole and every balance is what
    // the ledger says.
    EXPECT_TRUE(until([&] {
        return command({"ZCARD", "game:{ledger}:pending"}).integer == 0;
    })) << n2.output();
    expect_conserved(ids, gave.load(), false);
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

TEST_F(GameCluster, TransfersGoOnThroughAGracefulFailover) {
    const char* lab_env = std::getenv("SKYHIVE_TEST_LAB_PORT");
    ASSERT_NE(lab_env, nullptr);
    RespClient lab(std::atoi(lab_env));
    GameNode n1(dir_, "n1", ports_[0], config()), n2(dir_, "n2", ports_[0], config());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    const int kPlayers = 6;
    std::vector<std::string> ids;
    std::vector<std::unique_ptr<Player>> players;
    ASSERT_NO_FATAL_FAILURE(login_players("f", kPlayers, n1, n2, ids, players));
    // The master of f0's slot hands over to its replica while everyone trades.
    long long owner = lab.command({"OWNER", std::to_string(slot("game:player:{f0}"))}).integer;
    Resp replicas = lab.command({"REPLICAS", std::to_string(owner)});
    ASSERT_FALSE(replicas.elements.empty());
    std::atomic<int> gave{0}, other{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kPlayers; ++i) {
        threads.emplace_back([&, i] {
            std::mt19937 rng(unsigned(i) * 15485863u);
            while (!done) {
                std::string reply = give_someone(*players[size_t(i)], size_t(i), ids, rng);
                if (reply.rfind("gave ", 0) == 0)
                    ++gave;
                else if (reply.rfind("not enough gold", 0) != 0 &&
                         reply.find("try again") == std::string::npos &&
                         reply.find("may or may not") == std::string::npos)
                    ++other;
            }
        });
    }
    ASSERT_TRUE(until([&] { return gave.load() >= 20; }));
    Resp failover = lab.command({"FAILOVER", std::to_string(replicas.elements[0].integer)});
    EXPECT_EQ(failover.str, "OK") << failover.str;
    // Trades go on on the new master.
    const int before = gave.load();
    EXPECT_TRUE(until([&] { return gave.load() >= before + 20; }));
    done = true;
    for (auto& t : threads)
        t.join();
    // A busy machine may time a step out ("may or may not have happened"): the chain is then
    // completed by recovery, which the checks below cover. Anything else is a fault.
    EXPECT_EQ(other.load(), 0) << "only refusals for gold, to try again, or to check";
    EXPECT_EQ(lab.command({"OWNER", std::to_string(slot("game:player:{f0}"))}).integer,
              replicas.elements[0].integer)
        << "the replica took over";
    // A graceful failover loses no acknowledged write: once nothing is in flight, the sum is
    // whole and every balance is what the ledger says.
    EXPECT_TRUE(until([&] {
        return command({"ZCARD", "game:{ledger}:pending"}).integer == 0;
    })) << n1.output()
        << n2.output();
    expect_conserved(ids, gave.load(), false);
    // The richest player gives once more, on the new topology.
    size_t rich = 0;
    for (size_t i = 1; i < ids.size(); ++i)
        if (gold(ids[i]) > gold(ids[rich])) rich = i;
    const long long had = gold(ids[rich]);
    const std::string to = ids[rich == 0 ? 1 : 0];
    EXPECT_EQ(players[rich]->command("give " + to + " 1"),
              "gave 1 gold to " + to + "; you have " + std::to_string(had - 1) + " gold");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

TEST_F(GameCluster, ATransferCutAfterItsDebitIsCompletedByTheOtherNode) {
    GameNode n1(dir_, "n1", ports_[0], config("game_test_hook = \"stall_after_debit\"\n"));
    GameNode n2(dir_, "n2", ports_[0], config());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    interrupted("game:xfer:{carol}", n1, n2);
    expect_settled({"carol", "dave"});
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

TEST_F(GameCluster, ATransferCutAfterItsCreditIsNotCreditedTwice) {
    GameNode n1(dir_, "n1", ports_[0], config("game_test_hook = \"stall_after_credit\"\n"));
    GameNode n2(dir_, "n2", ports_[0], config());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    interrupted("game:credited:{dave}", n1, n2);
    expect_settled({"carol", "dave"});
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

}  // namespace
}  // namespace skyhive::test::game
