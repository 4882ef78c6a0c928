// Service: the per-service statistics a stat query reads (messages handled, CPU time spent).
#include "core/service.h"

#include <gtest/gtest.h>

#include <time.h>

#include <atomic>
#include <cstdint>

#include "core/clock.h"
#include "core/node.h"
#include "test/core/test_support.h"

namespace skyhive::test {
namespace {

uint64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

// Burns `ns` of this thread's CPU time (not wall time: a descheduled thread burns nothing).
void burn_cpu(uint64_t ns) {
    const uint64_t end = thread_cpu_ns() + ns;
    volatile uint64_t sink = 0;
    while (thread_cpu_ns() < end)
        for (int i = 0; i < 1000; ++i)
            sink = sink + uint64_t(i);
}

// A handler that burns 20 ms of CPU shows at least 15 ms in its service's CPU counter (what
// skynet.stat "cpu" reports), and the message count counts it.
TEST(Service, CpuTimeOfAHandlerIsAccounted) {
    Node node(quiet_options());
    std::atomic<int> handled{0};
    add_fn_module(node, "burner", [&](Service&, Message& m) {
        if (m.session == 1) burn_cpu(20'000'000);
        handled.fetch_add(1, std::memory_order_release);
    });
    ASSERT_TRUE(node.start());
    Handle h = node.launch("burner", "").value();
    uint64_t before_ns = 0, messages_before = 0;
    ASSERT_TRUE(node.with_service(h, [&](Service& s) {
        before_ns = cycles_to_ns(s.stats().cpu_cycles.load());
        messages_before = s.stats().messages.load();
    }));
    EXPECT_LT(before_ns, 5'000'000u) << "nothing ran yet";
    node.send(Handle(), h, MessageType::text, 1, {});
    node.send(Handle(), h, MessageType::text, 2, {});
    ASSERT_TRUE(wait_until([&] { return handled.load(std::memory_order_acquire) == 2; }));
    // The counters are stored after the batch; wait for them rather than for the handler.
    uint64_t cpu_ns = 0, messages = 0;
    EXPECT_TRUE(wait_until([&] {
        node.with_service(h, [&](Service& s) {
            cpu_ns = cycles_to_ns(s.stats().cpu_cycles.load());
            messages = s.stats().messages.load();
        });
        return messages - messages_before == 2;
    }));
    EXPECT_GE(cpu_ns - before_ns, 15'000'000u) << "a 20 ms handler shows " << cpu_ns << " ns";
    node.shutdown();
}

}  // namespace
}  // namespace skyhive::test
