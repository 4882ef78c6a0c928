#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace skyhive {

class Node;
class Scheduler;

// Watches the workers for a message that runs too long (an endless loop): when a worker's version
// has not moved and its current message started more than `threshold_ms` ago, it logs the source,
// the destination and the time so far, and signals the destination's module (sig 0), which lets
// the Lua host break the loop. Each stuck message is reported once.
//
// Thread: start/stop from the node's owner; everything else runs on the monitor thread.
class Monitor {
  public:
    Monitor(Node& node, const Scheduler& scheduler, uint32_t threshold_ms);
    ~Monitor();
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    void start();
    void stop();
    uint64_t reports() const { return reports_.load(std::memory_order_relaxed); }

  private:
    void run();
    void check();

    Node& node_;
    const Scheduler& scheduler_;
    const uint32_t threshold_ms_;
    std::vector<uint32_t> reported_version_;  // per worker: the version last reported

    std::mutex lock_;
    std::condition_variable cv_;
    bool running_ = false;
    std::thread thread_;
    std::atomic<uint64_t> reports_{0};
};

}  // namespace skyhive
