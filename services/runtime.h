#pragma once

// The composition root of a skyhive process: what main() builds from a config and runs.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/result.h"
#include "services/local_redis.h"

namespace skyhive {

class Node;
class SocketDriver;
class Signals;
namespace net {
class SocketServer;
}

// Owns, in start order, the Node, the SocketServer, the socket driver of the Lua services, the
// local redis-server (supervised, when the config wants one) and the signal thread, and stops
// them in reverse. Identity type: not copyable.
// Thread: create() on the main thread before any other thread exists (it blocks the node's
// signals for every thread created later); run(), start(), wait(), node() and the destructor on
// that same thread.
class Runtime {
  public:
    // Reads and checks what the runtime needs from the config (the node's options, bootstrap,
    // local_redis*, shutdown_timeout). Errors name file:line and key.
    static Result<std::unique_ptr<Runtime>> create(Config config);
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // Starts everything, launches the bootstrap service, waits until something stops the node
    // (a signal, a service, a failed bootstrap), stops everything in reverse and returns the
    // process exit code: the node's, or 1 when a part failed to start. Once.
    int run();

    // run() in two halves, for a program that embeds the node (the benchmarks): start()
    // starts everything and launches the bootstrap service; the caller may then talk to the
    // node (node().env(), node().request_stop()); wait() waits until something stops the node,
    // stops everything in reverse and returns the exit code as run() does. A failed start()
    // has already stopped what it started; wait() then returns 1. Once each, in this order.
    Result<void> start();
    int wait();
    Node& node() { return *node_; }

  private:
    Runtime();
    // The start steps; each undoes nothing itself: stop() stops whatever started.
    Result<void> start_parts();
    // A clean stop's first step: the cluster service, if any, leaves the membership (bounded).
    void leave_cluster();
    void stop();

    std::string bootstrap_;
    std::optional<LocalRedis::Options> local_redis_options_;
    std::chrono::milliseconds shutdown_timeout_{10000};

    // Declared in start order: destroyed in reverse.
    std::unique_ptr<Node> node_;
    std::unique_ptr<net::SocketServer> sockets_;
    std::unique_ptr<SocketDriver> socket_driver_;
    std::unique_ptr<LocalRedis> local_redis_;
    std::unique_ptr<Signals> signals_;
    bool node_started_ = false;
    bool start_failed_ = false;      // a part did not start: start() stopped the others
    bool bootstrap_failed_ = false;  // the bootstrap service did not launch: exit code 1
    std::thread::id owner_;          // the thread that called create()
};

}  // namespace skyhive
