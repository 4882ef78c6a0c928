#include "core/monitor.h"

#include <chrono>
#include <cstdio>

#include "core/clock.h"
#include "core/node.h"
#include "core/scheduler.h"

namespace skyhive {

Monitor::Monitor(Node& node, const Scheduler& scheduler, uint32_t threshold_ms)
    : node_(node), scheduler_(scheduler), threshold_ms_(threshold_ms) {
    reported_version_.assign(size_t(scheduler.watched()), 0);
}

Monitor::~Monitor() {
    stop();
}

void Monitor::start() {
    {
        std::lock_guard guard(lock_);
        running_ = true;
    }
    thread_ = std::thread([this] { run(); });
}

void Monitor::stop() {
    {
        std::lock_guard guard(lock_);
        running_ = false;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Monitor::run() {
    // Checking a few times per threshold bounds the detection delay to threshold * 1.25.
    auto interval = std::chrono::milliseconds(std::max<uint32_t>(threshold_ms_ / 4, 10));
    std::unique_lock guard(lock_);
    while (running_) {
        cv_.wait_for(guard, interval);
        if (!running_) break;
        guard.unlock();
        check();
        guard.lock();
    }
}

void Monitor::check() {
    const uint64_t now = cycle_now();
    for (int i = 0; i < scheduler_.watched(); ++i) {
        const WorkerState& st = scheduler_.state(i);
        // The message and its service in one word; its start, stored before the word, is read
        // after it, so it is this message's start or a later one's, never an earlier one's
        // (WorkerState): a service is never blamed for the time its worker was idle before it.
        const uint64_t current = st.current.load(std::memory_order_acquire);
        const uint32_t version = WorkerState::version_of(current);
        const uint32_t dest = WorkerState::dest_of(current);
        if (dest == 0 || version == reported_version_[size_t(i)]) continue;
        uint64_t started = st.started.load(std::memory_order_relaxed);
        uint32_t source = st.source.load(std::memory_order_relaxed);
        // Re-read the word: the source belongs to this message only if it did not move.
        std::atomic_thread_fence(std::memory_order_acquire);
        if (st.current.load(std::memory_order_relaxed) != current) continue;
        uint64_t elapsed_ms = now > started ? cycles_to_ns(now - started) / 1'000'000 : 0;
        if (elapsed_ms < threshold_ms_) continue;
        reported_version_[size_t(i)] = version;
        reports_.fetch_add(1, std::memory_order_relaxed);
        // Past the workers come the guest threads (the socket thread running a handler inline).
        const bool worker = i < scheduler_.threads();
        char text[176];
        std::snprintf(text, sizeof text,
                      "monitor: %s %d stuck for %llu ms in a message from :%08x to :%08x "
                      "(endless loop?); signalling it",
                      worker ? "worker" : "guest thread", worker ? i : i - scheduler_.threads(),
                      static_cast<unsigned long long>(elapsed_ms), source, dest);
        node_.log(Handle(dest), LogLevel::error, text);
        node_.signal(Handle(dest), 0);
    }
}

}  // namespace skyhive
