// The Redis Cluster the cluster client's tests run on (cluster_topology.*, with_cluster.cpp),
// against real redis-server processes: it comes up with every slot served, its faults do what
// they say, and with_cluster leaves no process or directory behind.
#include "test/support/cluster_topology.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "redis/probe.h"
#include "test/support/sentinel_topology.h"

namespace skyhive::test {
namespace {

std::unique_ptr<ClusterTopology> start_cluster() {
    auto t = ClusterTopology::start({});
    EXPECT_TRUE(t) << (t ? "" : t.error().message);
    return t ? std::move(t.value()) : nullptr;
}

int total_slots(const ClusterTopology& t, const std::vector<int>& masters) {
    int sum = 0;
    for (int m : masters) {
        auto s = t.slots(m);
        EXPECT_TRUE(s) << (s ? "" : s.error().message);
        sum += s ? s.value() : 0;
    }
    return sum;
}

TEST(ClusterNodesTest, ParsesRolesFlagsAndRangesAndLeavesOpenSlotsOut) {
    const std::string text =
        "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-99 200 [300->-b2]\r\n"
        "b2 127.0.0.1:7001@17001,host master - 0 0 2 connected 100-199 [300-<-a1]\n"
        "c3 127.0.0.1:7002@17002 slave a1 0 0 1 connected\n"
        "d4 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected\n"
        "e5 127.0.0.1:7004@17004 slave,fail? b2 0 0 2 connected\n"
        "f6 :0@0 master,noaddr - 0 0 0 disconnected\n";
    auto r = parse_cluster_nodes(text);
    ASSERT_TRUE(r) << r.error().message;
    const auto& v = r.value();
    ASSERT_EQ(v.size(), 6u);
    EXPECT_EQ(v[0].port, 7000);
    EXPECT_TRUE(v[0].master);
    EXPECT_EQ(v[0].slot_count, 101) << "0-99 and 200; the migrating 300 is not counted";
    EXPECT_EQ(v[1].port, 7001) << "a hostname after the bus port";
    EXPECT_EQ(v[1].slot_count, 100);
    EXPECT_FALSE(v[2].master);
    EXPECT_EQ(v[2].master_id, "a1");
    EXPECT_TRUE(v[3].failed);
    EXPECT_FALSE(v[3].usable);
    EXPECT_FALSE(v[4].failed) << "fail? is one node's suspicion";
    EXPECT_TRUE(v[4].usable);
    EXPECT_FALSE(v[5].usable);
    auto owners = slot_owners(v);
    ASSERT_EQ(owners.size(), size_t(kClusterSlots));
    EXPECT_EQ(owners[0], 7000);
    EXPECT_EQ(owners[150], 7001);
    EXPECT_EQ(owners[200], 7000);
    EXPECT_EQ(owners[300], 0);
    EXPECT_EQ(find_node(v, 7002), &v[2]);
    EXPECT_EQ(find_node(v, 1), nullptr);

    auto bad = parse_cluster_nodes("a1 127.0.0.1:7000@17000 master - 0 0 1 connected 9-16384\n");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("bad slot range '9-16384'"), std::string::npos)
        << bad.error().message;
    EXPECT_FALSE(parse_cluster_nodes("a1 127.0.0.1:7000 master\n"));
}

TEST(ClusterTopologyTest, ThreeMastersWithAReplicaEachOwnAllSlots) {
    auto t = start_cluster();
    ASSERT_TRUE(t);
    ASSERT_EQ(t->nodes().size(), 6u);
    auto masters = t->masters();
    ASSERT_TRUE(masters) << masters.error().message;
    ASSERT_EQ(masters.value().size(), 3u);
    EXPECT_EQ(total_slots(*t, masters.value()), 16384);
    std::vector<int> seen = masters.value();
    for (int m : masters.value()) {
        auto r = t->replicas(m);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r.value().size(), 1u) << "replicas of " << m;
        seen.insert(seen.end(), r.value().begin(), r.value().end());
    }
    std::sort(seen.begin(), seen.end());
    std::vector<int> started;
    for (const auto& n : t->nodes())
        started.push_back(n->port());
    std::sort(started.begin(), started.end());
    EXPECT_EQ(seen, started) << "every node started is a master or a replica of one";
    auto owner0 = t->owner(0);
    ASSERT_TRUE(owner0);
    EXPECT_EQ(owner0.value(), masters.value()[0]) << "masters() starts with slot 0's owner";
}

TEST(ClusterTopologyTest, AKeySetOnItsOwnerIsReadableThereAndMovedElsewhere) {
    auto t = start_cluster();
    ASSERT_TRUE(t);
    auto slot = resp_query(t->nodes()[0]->port(), {"CLUSTER", "KEYSLOT", "foo"});
    ASSERT_TRUE(slot) << slot.error().message;
    ASSERT_EQ(slot.value().at(0), "12182");
    auto owner = t->owner(12182);
    ASSERT_TRUE(owner) << owner.error().message;
    auto set = resp_query(owner.value(), {"SET", "foo", "bar"});
    ASSERT_TRUE(set) << set.error().message;
    auto get = resp_query(owner.value(), {"GET", "foo"});
    ASSERT_TRUE(get) << get.error().message;
    EXPECT_EQ(get.value().at(0), "bar");
    auto masters = t->masters();
    ASSERT_TRUE(masters);
    for (int m : masters.value()) {
        if (m == owner.value()) continue;
        auto moved = resp_query(m, {"GET", "foo"});
        ASSERT_FALSE(moved) << "127.0.0.1:" << m << " answered for a slot it does not own";
        EXPECT_NE(
            moved.error().message.find("MOVED 12182 127.0.0.1:" + std::to_string(owner.value())),
            std::string::npos)
            << moved.error().message;
    }
}

TEST(ClusterTopologyTest, KillOfAMasterPromotesItsReplicaAndTheMasterRejoinsAsReplica) {
    auto t = start_cluster();
    ASSERT_TRUE(t);
    auto before = t->masters();
    ASSERT_TRUE(before);
    int victim = before.value()[1];
    auto replicas = t->replicas(victim);
    ASSERT_TRUE(replicas);
    ASSERT_EQ(replicas.value().size(), 1u);
    int heir = replicas.value()[0];
    auto owned = t->slots(victim);
    ASSERT_TRUE(owned);

    // A paused master: the nodes still say cluster_state:ok and its replica's link is up until
    // their timeouts pass, but its slots are not served: ok() must say so at once.
    ASSERT_TRUE(t->pause(victim));
    auto paused = t->ok();
    ASSERT_FALSE(paused) << "ok() while a master that owns slots is paused";
    EXPECT_NE(paused.error().message.find(std::to_string(victim) + ", which is down"),
              std::string::npos)
        << paused.error().message;
    ASSERT_TRUE(t->resume(victim));
    auto resumed = t->wait_ok(std::chrono::seconds(10));
    ASSERT_TRUE(resumed) << resumed.error().message;
    auto same = t->masters();
    ASSERT_TRUE(same);
    EXPECT_EQ(same.value(), before.value()) << "a short pause changes no master";

    ASSERT_TRUE(t->kill(victim));
    auto at_once = t->ok();
    ASSERT_FALSE(at_once) << "ok() while a master that owns slots is dead";

    auto waited = t->wait_ok(std::chrono::seconds(20));
    ASSERT_TRUE(waited) << waited.error().message;
    auto after = t->masters();
    ASSERT_TRUE(after);
    ASSERT_EQ(after.value().size(), 3u);
    EXPECT_EQ(std::count(after.value().begin(), after.value().end(), victim), 0);
    EXPECT_EQ(std::count(after.value().begin(), after.value().end(), heir), 1);
    EXPECT_EQ(total_slots(*t, after.value()), 16384);
    auto heir_slots = t->slots(heir);
    ASSERT_TRUE(heir_slots);
    EXPECT_EQ(heir_slots.value(), owned.value());

    ASSERT_TRUE(t->restart(victim));
    waited = t->wait_ok(std::chrono::seconds(20));
    ASSERT_TRUE(waited) << waited.error().message;
    auto rejoined = t->replicas(heir);
    ASSERT_TRUE(rejoined);
    EXPECT_EQ(rejoined.value(), std::vector<int>{victim});
}

TEST(ClusterTopologyTest, ReshardMovesSlotsAndReturnsOnceEveryNodeKnows) {
    auto t = start_cluster();
    ASSERT_TRUE(t);
    auto masters = t->masters();
    ASSERT_TRUE(masters);
    int from = masters.value()[1], to = masters.value()[2];
    auto from0 = t->slots(from), to0 = t->slots(to);
    ASSERT_TRUE(from0 && to0);
    auto moved = t->reshard(from, to, 1000);
    ASSERT_TRUE(moved) << moved.error().message;
    // reshard() returns once every node knows the new owners (redis-cli tells the masters;
    // the replicas learn by gossip).
    for (const auto& n : t->nodes()) {
        auto text = resp_query(n->port(), {"CLUSTER", "NODES"});
        ASSERT_TRUE(text) << text.error().message;
        auto view = parse_cluster_nodes(text.value().at(0));
        ASSERT_TRUE(view) << view.error().message;
        for (const auto& seen : view.value()) {
            int expected = seen.port == from ? from0.value() - 1000
                           : seen.port == to ? to0.value() + 1000
                                             : seen.slot_count;
            EXPECT_EQ(seen.slot_count, expected)
                << seen.port << "'s slots as " << n->port() << " sees them";
        }
    }
    EXPECT_EQ(total_slots(*t, masters.value()), 16384);
}

TEST(ClusterTopologyTest, FailoverSwapsAMasterAndItsReplicaKeepingTheData) {
    auto t = start_cluster();
    ASSERT_TRUE(t);
    auto owner = t->owner(12182);  // "foo"
    ASSERT_TRUE(owner);
    auto replicas = t->replicas(owner.value());
    ASSERT_TRUE(replicas);
    ASSERT_EQ(replicas.value().size(), 1u);
    int replica = replicas.value()[0];
    ASSERT_TRUE(resp_query(owner.value(), {"SET", "foo", "kept"}));
    auto done = t->failover(replica);
    ASSERT_TRUE(done) << done.error().message;
    // failover() returned once every node agrees: no wait_ok needed.
    auto now = t->owner(12182);
    ASSERT_TRUE(now);
    EXPECT_EQ(now.value(), replica);
    auto demoted = t->replicas(replica);
    ASSERT_TRUE(demoted);
    EXPECT_EQ(demoted.value(), std::vector<int>{owner.value()});
    auto get = resp_query(replica, {"GET", "foo"});
    ASSERT_TRUE(get) << get.error().message;
    EXPECT_EQ(get.value().at(0), "kept");
    auto not_replica = t->failover(replica);
    EXPECT_FALSE(not_replica) << "CLUSTER FAILOVER on a master";
}

TEST(ClusterTopologyTest, AddedNodesJoinAndDeletedOnesLeave) {
    auto t = start_cluster();
    ASSERT_TRUE(t);
    auto masters = t->masters();
    ASSERT_TRUE(masters);
    auto master = t->add_node(0);
    ASSERT_TRUE(master) << master.error().message;
    auto four = t->masters();
    ASSERT_TRUE(four);
    EXPECT_EQ(four.value().size(), 4u);
    EXPECT_EQ(four.value().back(), master.value()) << "an empty master comes last";
    EXPECT_EQ(t->slots(master.value()).value(), 0);
    auto replica = t->add_node(master.value());
    ASSERT_TRUE(replica) << replica.error().message;
    EXPECT_EQ(t->replicas(master.value()).value(), std::vector<int>{replica.value()});
    EXPECT_EQ(t->nodes().size(), 8u);

    auto refused = t->del_node(masters.value()[0]);
    ASSERT_FALSE(refused) << "del-node of a master that owns slots";
    EXPECT_NE(refused.error().message.find("not empty"), std::string::npos)
        << refused.error().message;
    for (int port : {replica.value(), master.value()}) {
        auto gone = t->del_node(port);
        ASSERT_TRUE(gone) << gone.error().message;
        EXPECT_EQ(t->find(port), nullptr);
        EXPECT_FALSE(redis::answers_ping(port)) << port << " still runs";
    }
    EXPECT_EQ(t->masters().value(), masters.value());

    // A replica of a replica: add-node fails after the node joined; it stays, and can go.
    int some_replica = t->replicas(masters.value()[0]).value().at(0);
    auto odd = t->add_node(some_replica);
    ASSERT_FALSE(odd);
    EXPECT_NE(odd.error().message.find("stays in it"), std::string::npos) << odd.error().message;
    EXPECT_EQ(t->nodes().size(), 7u);
    int stray = t->nodes().back()->port();
    auto ok = t->wait_ok(std::chrono::seconds(10));
    EXPECT_TRUE(ok) << ok.error().message;
    ASSERT_TRUE(t->del_node(stray));
    EXPECT_EQ(t->masters().value(), masters.value());
    ok = t->ok();
    EXPECT_TRUE(ok) << ok.error().message;
}

// with_cluster running `sh -c script`; the script's stdout is read line by line.
struct Harness {
    pid_t pid = -1;
    FILE* out = nullptr;

    explicit Harness(const std::string& script) {
        int fds[2];
        if (::pipe(fds) != 0) return;
        pid = ::fork();
        if (pid == 0) {
            ::dup2(fds[1], 1);
            ::close(fds[0]);
            ::close(fds[1]);
            ::execl(WITH_CLUSTER, WITH_CLUSTER, "--", "sh", "-c", script.c_str(),
                    static_cast<char*>(nullptr));
            std::_Exit(127);
        }
        ::close(fds[1]);
        out = ::fdopen(fds[0], "r");
    }
    ~Harness() {
        if (out) std::fclose(out);
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    // The next line without its newline; "" at the end.
    std::string line() {
        char buf[4096];
        if (!out || !std::fgets(buf, sizeof buf, out)) return "";
        std::string s = buf;
        if (!s.empty() && s.back() == '\n') s.pop_back();
        return s;
    }
    int wait() {
        int status = 0;
        ::waitpid(pid, &status, 0);
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
};

// Prints "port dir" for every node, then the lab port, then "ready".
const char* kReport =
    "for p in $SKYHIVE_TEST_CLUSTER_PORTS; do "
    "echo $p $(redis-cli -p $p config get dir | tail -1); done; "
    "echo lab $SKYHIVE_TEST_LAB_PORT; echo ready; ";

struct Node {
    int port;
    std::string dir;
};

std::vector<Node> read_report(Harness& h, int* lab_port) {
    std::vector<Node> nodes;
    for (std::string l = h.line(); !l.empty() && l != "ready"; l = h.line()) {
        size_t sp = l.find(' ');
        if (l.rfind("lab ", 0) == 0)
            *lab_port = std::atoi(l.c_str() + 4);
        else if (sp != std::string::npos)
            nodes.push_back({std::atoi(l.c_str()), l.substr(sp + 1)});
    }
    return nodes;
}

void expect_all_gone(const std::vector<Node>& nodes) {
    for (const auto& n : nodes) {
        EXPECT_FALSE(redis::answers_ping(n.port)) << "node " << n.port << " still runs";
        EXPECT_FALSE(std::filesystem::exists(n.dir)) << n.dir << " not removed";
    }
}

TEST(WithClusterTest, ServesTheControlPortAndStopsEverythingOnSigterm) {
    Harness h(std::string(kReport) + "exec sleep 600");
    ASSERT_GT(h.pid, 0);
    int lab = 0;
    auto nodes = read_report(h, &lab);
    ASSERT_EQ(nodes.size(), 6u);
    ASSERT_GT(lab, 0);
    for (const auto& n : nodes)
        ASSERT_TRUE(std::filesystem::exists(n.dir)) << n.dir;

    auto masters = resp_query(lab, {"MASTERS"});
    ASSERT_TRUE(masters) << masters.error().message;
    EXPECT_EQ(masters.value().size(), 3u);
    auto slots = resp_query(lab, {"SLOTS", masters.value().at(0)});
    ASSERT_TRUE(slots) << slots.error().message;
    EXPECT_GT(std::atoi(slots.value().at(0).c_str()), 0);
    auto bad = resp_query(lab, {"SLOTS", "nonsense"});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("'nonsense' is not a port"), std::string::npos)
        << bad.error().message;
    auto garbage = resp_query(lab, {"GARBAGE"});
    ASSERT_TRUE(garbage) << garbage.error().message;
    auto answer = resp_query(std::atoi(garbage.value().at(0).c_str()), {"PING"});
    ASSERT_FALSE(answer) << "the garbage node answered in RESP";
    EXPECT_NE(answer.error().message.find("unexpected reply line: ?garbage"), std::string::npos)
        << answer.error().message;

    ::kill(h.pid, SIGTERM);
    EXPECT_EQ(h.wait(), 128 + SIGTERM) << "the program's status (killed by SIGTERM)";
    expect_all_gone(nodes);
}

TEST(WithClusterTest, StopsEverythingWhenTheProgramFails) {
    Harness h(std::string(kReport) + "exit 3");
    ASSERT_GT(h.pid, 0);
    int lab = 0;
    auto nodes = read_report(h, &lab);
    ASSERT_EQ(nodes.size(), 6u);
    EXPECT_EQ(h.wait(), 3);
    expect_all_gone(nodes);
}

}  // namespace
}  // namespace skyhive::test
