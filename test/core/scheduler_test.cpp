// The workers' idle policy: spin, then park. The failure feared most is a lost wake-up (a push
// from outside the workers that lands while a worker is between spinning and parking, and then
// waits forever); the next is a spinner that never parks and burns a core on an idle node.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "core/config.h"
#include "core/node.h"
#include "test/core/test_support.h"

namespace skyhive::test {
namespace {

using namespace std::chrono_literals;

NodeOptions spin_options(int spin_us) {
    NodeOptions o = quiet_options(2);
    o.spin_us = spin_us;
    return o;
}

double process_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto secs = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
    return secs(ru.ru_utime) + secs(ru.ru_stime);
}

class SchedulerSpin : public ::testing::TestWithParam<int> {};

// One outside thread sends, waits for the service to count the message, pauses a random time of
// 0-150 us (so sends land while a worker spins, gives up spinning, parks or is parked), and sends
// again. Every message must be handled: nothing but the send can wake a worker here.
TEST_P(SchedulerSpin, ExternalSendsAreNeverLeftWaiting) {
    Node node(spin_options(GetParam()));
    std::atomic<uint64_t> handled{0};
    add_fn_module(node, "count", [&handled](Service&, Message&) {
        handled.fetch_add(1, std::memory_order_release);
    });
    ASSERT_TRUE(node.start());
    Handle counter = node.launch("count", "").value();
    std::mt19937 rng(GetParam() + 1);
    std::uniform_int_distribution<int> gap_us(0, 150);
    const uint64_t rounds = kSanitized ? 1'000 : 5'000;
    for (uint64_t i = 1; i <= rounds; ++i) {
        ASSERT_TRUE(node.send(Handle(), counter, MessageType::text, 0, {}));
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (handled.load(std::memory_order_acquire) < i) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline)
                << "message " << i << " of " << rounds << " was never handled (spin " << GetParam()
                << " us)";
        }
        if (int gap = gap_us(rng); gap > 0)
            std::this_thread::sleep_for(std::chrono::microseconds(gap));
    }
    node.shutdown();
}

// Several outside threads sending at once to several services: every message arrives.
TEST_P(SchedulerSpin, ConcurrentExternalSendersAllDelivered) {
    Node node(spin_options(GetParam()));
    std::atomic<uint64_t> handled{0};
    add_fn_module(node, "count", [&handled](Service&, Message&) {
        handled.fetch_add(1, std::memory_order_relaxed);
    });
    ASSERT_TRUE(node.start());
    std::vector<Handle> targets;
    for (int i = 0; i < 4; ++i)
        targets.push_back(node.launch("count", "").value());
    const uint64_t per_thread = kSanitized ? 2'000 : 50'000;
    std::vector<std::thread> senders;
    for (int t = 0; t < 3; ++t)
        senders.emplace_back([&, t] {
            for (uint64_t i = 0; i < per_thread; ++i) {
                node.send(Handle(), targets[(i + t) % targets.size()], MessageType::text, 0, {});
                if (i % 64 == 0) std::this_thread::yield();
            }
        });
    for (auto& s : senders)
        s.join();
    EXPECT_TRUE(wait_until([&] { return handled.load() == 3 * per_thread; }, 30s))
        << handled.load() << " of " << 3 * per_thread << " handled";
    node.shutdown();
}

INSTANTIATE_TEST_SUITE_P(SpinUs, SchedulerSpin, ::testing::Values(0, 50, 2'000),
                         [](const auto& info) { return "spin" + std::to_string(info.param); });

// After its last message a node spins for at most spin_us, then its workers park: an idle node
// uses (almost) no CPU, even with a long spin.
TEST(Scheduler, IdleNodeParksAfterSpinning) {
    Node node(spin_options(20'000));  // 20 ms
    add_fn_module(node, "noop", [](Service&, Message&) {});
    ASSERT_TRUE(node.start());
    Handle h = node.launch("noop", "").value();
    for (int i = 0; i < 100; ++i)
        node.send(Handle(), h, MessageType::text, 0, {});
    std::this_thread::sleep_for(100ms);  // past the spin: the workers should be parked now
    double before = process_cpu_seconds();
    std::this_thread::sleep_for(500ms);
    double used = process_cpu_seconds() - before;
    EXPECT_LT(used, 0.1) << "an idle node used " << used << " s of CPU in 0.5 s";
    node.shutdown();
}

// Shutdown must not wait for a spinner to finish a long spin, nor miss a parked worker.
TEST(Scheduler, ShutdownWhileSpinningOrParkedIsPrompt) {
    for (int spin_us : {0, 1'000'000}) {
        Node node(spin_options(spin_us));
        add_fn_module(node, "noop", [](Service&, Message&) {});
        ASSERT_TRUE(node.start());
        Handle h = node.launch("noop", "").value();
        node.send(Handle(), h, MessageType::text, 0, {});
        std::this_thread::sleep_for(20ms);  // one worker spins (1 s), the other is parked
        auto t0 = std::chrono::steady_clock::now();
        node.shutdown();
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms) << "spin " << spin_us << " us";
    }
}

// A config of one key, as if set at `line` of n.lua.
Config config_with(std::string key, std::string value, int line = 1) {
    Config c("n.lua");
    c.set(std::move(key), std::move(value), "n.lua", line);
    return c;
}

TEST(Scheduler, WorkerSpinIsReadFromConfigAndChecked) {
    auto set = NodeOptions::from_config(config_with("worker_spin", "0"));
    ASSERT_TRUE(set);
    EXPECT_EQ(set.value().spin_us, 0);
    auto fallback = NodeOptions::from_config(config_with("thread", "2"));
    ASSERT_TRUE(fallback);
    EXPECT_EQ(fallback.value().spin_us, 50);
    auto bad = NodeOptions::from_config(config_with("worker_spin", "-5", 2));
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("worker_spin"), std::string::npos) << bad.error().message;
    EXPECT_NE(bad.error().message.find("n.lua:2"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace skyhive::test
