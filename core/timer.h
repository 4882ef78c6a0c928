#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "core/handle.h"
#include "core/spinlock.h"

namespace skyhive {

struct TimerEvent {
    Handle handle;
    int32_t session;
};

// A hierarchical timing wheel with 10 ms ticks: 256 near slots, then 4 levels of 64 slots, each
// level 64 times coarser (the layout of skynet's timer). Adding and expiring are O(1); an entry
// cascades towards the near wheel as its time approaches. Entries due on the same tick expire in
// the order they were added.
//
// Not thread-safe by itself: Timer guards it.
class TimingWheel {
  public:
    // Due `ticks` (>= 1) after the current tick; delays beyond 2^32 - 1 ticks are clamped.
    void add(uint64_t ticks, TimerEvent ev);
    // Advances one tick and appends what became due to `out`.
    void tick(std::vector<TimerEvent>& out);
    uint32_t current() const { return time_; }

  private:
    struct Entry {
        uint32_t expire;
        TimerEvent ev;
    };
    static constexpr int kNearBits = 8, kLevelBits = 6, kLevels = 4;
    static constexpr uint32_t kNear = 1u << kNearBits, kLevel = 1u << kLevelBits;

    void place(Entry e);
    void cascade(int level, uint32_t slot);
    void expire_current(std::vector<TimerEvent>& out);

    std::vector<Entry> near_[kNear];
    std::vector<Entry> levels_[kLevels][kLevel];
    uint32_t time_ = 0;  // wraps; the wheel arithmetic is modulo 2^32
};

// The timer thread: advances the wheel every 10 ms against the monotonic clock (catching up after a
// stall, never drifting) and hands each tick's due events to `fire` in one batch.
//
// Thread: add/now from any thread; start/stop from the owner. `fire` runs on the timer thread.
class Timer {
  public:
    using Fire = std::function<void(std::vector<TimerEvent>&)>;
    // `on_tick`, when set, runs on the timer thread after every tick (housekeeping such as log
    // reopening).
    explicit Timer(Fire fire, std::function<void()> on_tick = {});
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void start();
    void stop();
    // `centiseconds` >= 1. Returns the tick (on the now() scale) at which it fires.
    uint64_t add(Handle h, int32_t session, uint64_t centiseconds);
    // Ticks (centiseconds) since start.
    uint64_t now() const { return now_.load(std::memory_order_acquire); }

  private:
    void run();

    Fire fire_;
    std::function<void()> on_tick_;
    Spinlock lock_;
    TimingWheel wheel_;
    std::atomic<uint64_t> now_{0};
    std::atomic<bool> running_{false};
    std::thread thread_;
};

}  // namespace skyhive
