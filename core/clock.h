#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace skyhive {

// A cheap monotonic tick counter for per-message accounting: the TSC on x86 (a few ns, no
// syscall), the steady clock elsewhere. Reading the thread CPU clock instead costs a syscall per
// read, which is what makes skynet's profiling expensive. Ticks are wall time spent in a callback,
// so a worker preempted mid-callback is charged for the wait.
inline uint64_t cycle_now() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    return uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

// Nanoseconds per tick of cycle_now(), measured once per process (a hardware constant).
double ns_per_cycle();

inline uint64_t cycles_to_ns(uint64_t cycles) {
    return uint64_t(double(cycles) * ns_per_cycle());
}

inline uint64_t monotonic_ns() noexcept {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

}  // namespace skyhive
