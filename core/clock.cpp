#include "core/clock.h"

#include <thread>

namespace skyhive {

namespace {
double calibrate() {
#if defined(__x86_64__) || defined(__i386__)
    uint64_t t0 = monotonic_ns(), c0 = cycle_now();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    uint64_t t1 = monotonic_ns(), c1 = cycle_now();
    return c1 > c0 ? double(t1 - t0) / double(c1 - c0) : 1.0;
#else
    return 1.0;  // steady_clock ticks are nanoseconds
#endif
}
}  // namespace

double ns_per_cycle() {
    static const double value = calibrate();
    return value;
}

}  // namespace skyhive
