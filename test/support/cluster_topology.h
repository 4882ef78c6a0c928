#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "test/support/cluster_nodes.h"
#include "test/support/redis_process.h"

namespace skyhive::test {

// A Redis Cluster for tests and benchmarks: masters x (1 + replicas) redis-server processes with
// cluster-enabled, each a RedisProcess on free loopback ports (data and bus port) in its own
// temporary directory, without persistence, joined by `redis-cli --cluster create`. Every
// process (and the directories) is stopped and removed when the object dies. The actions below
// (kill, restart, failover, reshard, add and remove nodes) are the faults the cluster client is
// tested under; each blocks its caller until done.
//
// Thread: one owner thread (it also receives the cancel callback's calls).
class ClusterTopology {
  public:
    struct Options {
        int masters = 3;
        int replicas = 1;  // per master
        int node_timeout_ms = 1500;
        bool full_coverage = true;  // cluster-require-full-coverage
        // Extra config lines for every node ("cluster-replica-validity-factor 0").
        std::vector<std::string> server_config;
        // Polled by every wait (start, wait_ok, redis-cli runs): true stops it with an error.
        std::function<bool()> cancelled;
        // Servers die with the thread that started them (RedisProcess::Options).
        bool die_with_parent = false;
    };

    // Starts the nodes, creates the cluster and waits until ok() holds (up to 30 s).
    static Result<std::unique_ptr<ClusterTopology>> start(Options options);
    ClusterTopology(const ClusterTopology&) = delete;
    ClusterTopology& operator=(const ClusterTopology&) = delete;
    // Stops every node: SIGTERM to all at once, then each is waited for (SIGKILL after 5 s).
    ~ClusterTopology();

    const Options& options() const { return options_; }
    // Every node started and not removed by del_node, in start order (added ones last).
    const std::vector<std::unique_ptr<RedisProcess>>& nodes() const { return nodes_; }
    RedisProcess* find(int port) const;
    // Running and not paused: the nodes that can answer.
    bool live(int port) const;

    // CLUSTER NODES as the first live node sees it.
    Result<std::vector<ClusterNode>> view() const;
    // Masters the cluster does not consider failed, ordered by their first slot (empty ones
    // last, by port).
    Result<std::vector<int>> masters() const;
    // Replicas of that master the cluster does not consider failed, by port.
    Result<std::vector<int>> replicas(int master_port) const;
    // Number of slots the node owns (0 for a replica).
    Result<int> slots(int port) const;
    // The port of the master that owns the slot.
    Result<int> owner(int slot) const;
    // CLUSTER MYID of a live node.
    Result<std::string> node_id(int port) const;

    // Ok when every live node says cluster_state:ok, all map each of the 16384 slots to the same
    // live master, every live node knows every other as usable, and every live replica's link to
    // its master is up. Otherwise an error saying what is missing and where.
    Result<void> ok() const;
    // Polls ok() every 50 ms until it holds or the timeout passes.
    Result<void> wait_ok(std::chrono::milliseconds timeout) const;

    // SIGKILL / SIGTERM (waits for the exit) / SIGSTOP / SIGCONT of one node.
    Result<void> kill(int port);
    Result<void> stop(int port);
    Result<void> pause(int port);
    Result<void> resume(int port);
    // Starts a node again on its ports and directory (it keeps nodes.conf, so it rejoins; a
    // master that was replaced comes back as a replica of its successor); stops it first if it
    // runs. Waits until it answers PING.
    Result<void> restart(int port);
    // CLUSTER FAILOVER on a replica; waits (15 s) until it says it is a master, then until ok()
    // (30 s): every node has heard of it.
    Result<void> failover(int replica_port);
    // Moves n slots from one master to another with redis-cli --cluster reshard, then waits
    // until ok() (30 s): every node maps them to their new owner.
    Result<void> reshard(int from_port, int to_port, int n);
    // Starts a node and joins it with redis-cli --cluster add-node: an empty master, or a
    // replica of master_port when it is not 0. Waits until ok(). Returns its port. When
    // add-node fails after the node joined (it refused to replicate), the node stays a member
    // and the error says so.
    Result<int> add_node(int master_port);
    // Removes a node (an empty master or a replica) with redis-cli --cluster del-node, stops it
    // and removes its directory.
    Result<void> del_node(int port);

  private:
    ClusterTopology() = default;
    Result<std::unique_ptr<RedisProcess>> launch_node() const;
    // Runs redis-cli with these arguments; its output on success, an error with it otherwise.
    Result<std::string> redis_cli(const std::vector<std::string>& args,
                                  std::chrono::seconds timeout) const;
    Result<int> any_live_port(int except = 0) const;
    bool cancelled() const { return options_.cancelled && options_.cancelled(); }

    Options options_;
    std::vector<std::unique_ptr<RedisProcess>> nodes_;
    std::set<int> paused_;
};

}  // namespace skyhive::test
