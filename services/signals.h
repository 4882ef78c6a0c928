#pragma once

// The node's process signals: SIGINT and SIGTERM stop it (after its ".shutdown" service finished
// its work), SIGHUP reopens the log file, SIGPIPE is ignored.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace skyhive {

class Node;

// A thread that waits for the node's signals with sigwait() and acts on them.
// Identity type: not copyable. Thread: block() on the main thread before any other thread
// exists; the constructor and stop() on the owner thread; the handling on its own thread, which
// only calls Node methods that are safe from any thread.
class Signals {
  public:
    // Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, so that every thread created
    // afterwards inherits the mask and only the signal thread receives them; ignores SIGPIPE.
    static void block();

    // Starts the signal thread. On the first SIGINT/SIGTERM a service registered as ".shutdown"
    // gets the text "shutdown" and stops the node itself; a second signal, or `shutdown_timeout`
    // passing, or no such service, stops the node at once (Node::request_stop).
    Signals(Node& node, std::chrono::milliseconds shutdown_timeout);
    // stop().
    ~Signals();
    Signals(const Signals&) = delete;
    Signals& operator=(const Signals&) = delete;

    // Ends the signal thread and joins it. Idempotent.
    void stop();

  private:
    void run();
    // Waits for the ".shutdown" service to stop the node; returns when it is time to stop it.
    void wait_for_finisher();

    Node& node_;  // borrowed: outlives this object
    const std::chrono::milliseconds shutdown_timeout_;
    sigset_t set_;
    std::atomic<bool> exiting_{false};
    std::thread thread_;
};

}  // namespace skyhive
