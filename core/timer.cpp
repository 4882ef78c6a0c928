#include "core/timer.h"

#include <time.h>

#include <algorithm>
#include <mutex>

namespace skyhive {

void TimingWheel::add(uint64_t ticks, TimerEvent ev) {
    ticks = std::clamp<uint64_t>(ticks, 1, UINT32_MAX);
    place(Entry{uint32_t(time_ + uint32_t(ticks)), ev});
}

void TimingWheel::place(Entry e) {
    uint32_t expire = e.expire, now = time_;
    if ((expire | (kNear - 1)) == (now | (kNear - 1))) {
        near_[expire & (kNear - 1)].push_back(e);
        return;
    }
    // Find the finest level whose span still contains both now and expire.
    uint32_t mask = kNear << kLevelBits;
    int level = 0;
    for (; level < kLevels - 1; ++level) {
        if ((expire | (mask - 1)) == (now | (mask - 1))) break;
        mask <<= kLevelBits;
    }
    uint32_t slot = (expire >> (kNearBits + level * kLevelBits)) & (kLevel - 1);
    levels_[level][slot].push_back(e);
}

void TimingWheel::cascade(int level, uint32_t slot) {
    std::vector<Entry> moving;
    moving.swap(levels_[level][slot]);
    for (const Entry& e : moving)
        place(e);
}

void TimingWheel::expire_current(std::vector<TimerEvent>& out) {
    auto& slot = near_[time_ & (kNear - 1)];
    for (const Entry& e : slot)
        out.push_back(e.ev);
    slot.clear();
}

void TimingWheel::tick(std::vector<TimerEvent>& out) {
    uint32_t ct = ++time_;
    if (ct == 0) {
        cascade(kLevels - 1, 0);
    } else if ((ct & (kNear - 1)) == 0) {
        // The near wheel wrapped: pull the next coarser slot down, level by level.
        uint32_t t = ct >> kNearBits;
        uint32_t mask = kNear;
        for (int level = 0; level < kLevels && (ct & (mask - 1)) == 0; ++level) {
            uint32_t slot = t & (kLevel - 1);
            if (slot != 0) {
                cascade(level, slot);
                break;
            }
            mask <<= kLevelBits;
            t >>= kLevelBits;
        }
    }
    expire_current(out);
}

Timer::Timer(Fire fire, std::function<void()> on_tick)
    : fire_(std::move(fire)), on_tick_(std::move(on_tick)) {}

Timer::~Timer() {
    stop();
}

void Timer::start() {
    running_.store(true, std::memory_order_release);
    thread_ = std::thread([this] { run(); });
}

void Timer::stop() {
    running_.store(false, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
}

uint64_t Timer::add(Handle h, int32_t session, uint64_t centiseconds) {
    std::lock_guard guard(lock_);
    wheel_.add(centiseconds, TimerEvent{h, session});
    // now_ moves under the same lock as the wheel, so this is exactly the firing tick.
    return now_.load(std::memory_order_relaxed) + std::min<uint64_t>(centiseconds, UINT32_MAX);
}

namespace {
constexpr uint64_t kTickNs = 10'000'000;

uint64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}
}  // namespace

void Timer::run() {
    const uint64_t origin = mono_ns();
    uint64_t done = 0;  // ticks processed
    std::vector<TimerEvent> due;
    while (running_.load(std::memory_order_acquire)) {
        uint64_t next = origin + (done + 1) * kTickNs;
        timespec ts{time_t(next / 1'000'000'000ull), long(next % 1'000'000'000ull)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
        uint64_t target = (mono_ns() - origin) / kTickNs;
        while (done < target) {
            std::lock_guard guard(lock_);
            wheel_.tick(due);
            now_.store(++done, std::memory_order_release);
        }
        if (!due.empty()) {
            fire_(due);
            due.clear();
        }
        if (on_tick_) on_tick_();
    }
}

}  // namespace skyhive
