#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "test/support/redis_process.h"

namespace skyhive::test {

// A Redis Sentinel topology for tests, benchmarks and the demo: one master, its replicas and
// the sentinels that monitor it, each a RedisProcess on a free loopback port in a temporary
// directory, all stopped when the object dies.
//
// Thread: one owner thread.
class SentinelTopology {
  public:
    struct Options {
        int replicas = 2;
        int sentinels = 3;
        int quorum = 2;
        int down_after_ms = 1000;
        int failover_timeout_ms = 5000;
        std::string master_name = "mymaster";
        // Extra config lines for every redis-server / every redis-sentinel.
        std::vector<std::string> server_config;
        std::vector<std::string> sentinel_config;
        // Fixed ports, data servers first, then sentinels; empty = free ports.
        std::vector<int> ports;
    };

    // Starts everything and waits until ready() holds (up to 30 s).
    static Result<std::unique_ptr<SentinelTopology>> start(Options options);
    SentinelTopology(const SentinelTopology&) = delete;
    SentinelTopology& operator=(const SentinelTopology&) = delete;
    ~SentinelTopology() = default;

    const Options& options() const { return options_; }
    // Data servers, the initial master first.
    const std::vector<std::unique_ptr<RedisProcess>>& servers() const { return servers_; }
    const std::vector<std::unique_ptr<RedisProcess>>& sentinels() const { return sentinels_; }
    // The server or sentinel on that port, or nullptr.
    RedisProcess* find(int port) const;

    // Ok when every running sentinel names the same master, sees it up, knows every other
    // running sentinel and at least `min_replicas` replicas, and the master has that many
    // replicas online. Otherwise an error saying what is missing.
    Result<void> ready(int min_replicas) const;
    // Polls ready() until it holds or the timeout passes.
    Result<void> wait_ready(int min_replicas, std::chrono::milliseconds timeout) const;
    // The master the first answering sentinel names, as a port (0 when none answers).
    int master_port() const;

  private:
    SentinelTopology() = default;
    Options options_;
    std::vector<std::unique_ptr<RedisProcess>> servers_;
    std::vector<std::unique_ptr<RedisProcess>> sentinels_;
};

// Sends one command (words) to 127.0.0.1:port and returns the reply flattened: every bulk,
// simple string and integer of it in order, nested arrays included; a null is "". An error
// reply becomes an Error with its text.
Result<std::vector<std::string>> resp_query(int port, const std::vector<std::string>& words);

}  // namespace skyhive::test
