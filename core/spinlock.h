#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace skyhive {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

// Test-and-test-and-set lock for critical sections of a few instructions (queue push/pop).
// Never hold it across a call that can block or allocate much. BasicLockable.
class Spinlock {
  public:
    void lock() noexcept {
        for (unsigned spins = 0;;) {
            if (!flag_.exchange(true, std::memory_order_acquire)) return;
            while (flag_.load(std::memory_order_relaxed)) {
                // With more runnable threads than cores the holder may be preempted: stop burning
                // the time slice it needs to finish.
                if (++spins % 128 == 0)
                    std::this_thread::yield();
                else
                    cpu_relax();
            }
        }
    }
    bool try_lock() noexcept {
        return !flag_.load(std::memory_order_relaxed) &&
               !flag_.exchange(true, std::memory_order_acquire);
    }
    void unlock() noexcept { flag_.store(false, std::memory_order_release); }

  private:
    std::atomic<bool> flag_{false};
};

}  // namespace skyhive
