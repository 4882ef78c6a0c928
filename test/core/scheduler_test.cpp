// The scheduler: fairness between services, one worker per service at a time, and the idle policy
// (spin, then park). The failure feared most in the idle policy is a lost wake-up (a push from
// outside the workers that lands while a worker is between spinning and parking, and then waits
// forever); the next is a spinner that never parks and burns a core on an idle node.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/node.h"
#include "core/scheduler.h"
#include "core/spinlock.h"
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

// The socket thread's way of delivering (MessageSink::hold_wakes): a burst to several services
// with wake-ups held, then one release. The release must wake a worker for all the burst queued,
// whatever the workers were doing (spinning, parking, parked): nothing else wakes them here.
TEST_P(SchedulerSpin, HeldWakeUpsAreDoneOnRelease) {
    Node node(spin_options(GetParam()));
    std::atomic<uint64_t> handled{0};
    add_fn_module(node, "count", [&handled](Service&, Message&) {
        handled.fetch_add(1, std::memory_order_release);
    });
    ASSERT_TRUE(node.start());
    std::vector<Handle> targets;
    for (int i = 0; i < 3; ++i)
        targets.push_back(node.launch("count", "").value());
    std::mt19937 rng(GetParam() + 7);
    std::uniform_int_distribution<int> gap_us(0, 150);
    const uint64_t rounds = kSanitized ? 300 : 1'000;
    uint64_t sent = 0;
    for (uint64_t i = 0; i < rounds; ++i) {
        node.hold_wakes();
        for (uint64_t b = 0; b <= i % 4; ++b, ++sent)
            ASSERT_TRUE(node.deliver(targets[(i + b) % targets.size()],
                                     Message{Handle(), 0, MessageType::text, {}}));
        node.release_wakes();
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (handled.load(std::memory_order_acquire) < sent) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline)
                << "burst " << i << ": " << sent - handled.load() << " of its messages never ran"
                << " (spin " << GetParam() << " us)";
        }
        if (int gap = gap_us(rng); gap > 0)
            std::this_thread::sleep_for(std::chrono::microseconds(gap));
    }
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

TEST(Scheduler, FloodingServiceDoesNotStarvePing) {
    Node node(quiet_options());
    std::atomic<bool> stop_flood{false};
    add_fn_module(
        node, "flood",
        [&](Service& self, Message&) {
            if (!stop_flood.load(std::memory_order_relaxed))
                self.send(self.handle(), MessageType::text, 0, {});
        },
        [](Service& self, std::string_view) {
            for (int i = 0; i < 1'000'000; ++i)
                self.send(self.handle(), MessageType::text, 0, {});
            return true;
        });
    add_fn_module(node, "ping", [](Service& self, Message& m) {
        self.send(m.source, MessageType::response, m.session, std::move(m.payload));
    });
    std::atomic<int32_t> answered{0};
    add_fn_module(node, "pinger", [&](Service&, Message& m) {
        if (m.type == MessageType::response) answered.store(m.session);
    });
    ASSERT_TRUE(node.start());
    Handle flood = node.launch("flood", "").value();
    Handle ping = node.launch("ping", "").value();
    Handle pinger = node.launch("pinger", "").value();
    for (int32_t session = 1; session <= 50; ++session) {
        node.send(pinger, ping, MessageType::lua, session, {});
        ASSERT_TRUE(wait_until([&] { return answered.load() == session; }, std::chrono::seconds(5)))
            << "ping " << session << " starved";
    }
    size_t backlog = 0;
    node.with_service(flood, [&](Service& s) { backlog = s.mailbox_length(); });
    EXPECT_GT(backlog, 100'000u)
        << "the flood must still be running for the check to mean anything";
    stop_flood = true;
    node.shutdown();
}

TEST(Scheduler, ServiceNeverRunsOnTwoWorkersAtOnce) {
    Node node(quiet_options(4));
    std::atomic<int> violations{0};
    std::atomic<uint64_t> handled{0};
    node.modules().add("exclusive", [&] {
        auto m = std::make_unique<FnModule>();
        auto busy = std::make_shared<std::atomic<bool>>(false);
        m->on_msg = [busy, &violations, &handled](Service&, Message&) {
            if (busy->exchange(true)) violations++;
            for (int i = 0; i < 200; ++i)
                cpu_relax();
            busy->store(false);
            handled++;
        };
        return m;
    });
    ASSERT_TRUE(node.start());
    std::vector<Handle> services;
    for (int i = 0; i < 8; ++i)
        services.push_back(node.launch("exclusive", "").value());
    const int kPerProducer = kSanitized ? 5'000 : 50'000;
    std::vector<std::thread> producers;
    for (int p = 0; p < 4; ++p)
        producers.emplace_back([&, p] {
            std::mt19937 rng(p);
            for (int i = 0; i < kPerProducer; ++i)
                node.send(Handle(), services[rng() % services.size()], MessageType::text, 0, {});
        });
    for (auto& t : producers)
        t.join();
    ASSERT_TRUE(wait_until([&] { return handled.load() == uint64_t(4 * kPerProducer); }));
    EXPECT_EQ(violations.load(), 0);
}

// The batch a worker takes from a long queue follows its weight (skynet's table): -1 one message,
// 0 all, 1 half, 2 a quarter, 3 an eighth of what is queued when the batch starts.
//
// Which worker runs which service is up to the scheduler, so the test infers each worker's weight
// from what it did. Every service gets n numbered messages while its first one holds a worker (all
// 32 workers end up holding one, blocked until the test releases them together); after that, a
// batch starting at message s sees n - s queued. In one thread's order of work, a run of one
// service's messages is one batch, or, when the queue held nothing else (near the end), several
// back to back: it must split into batches of the size some weight gives, and the weight whose
// single batch matches the most runs is the worker's. Each weight must be found, and no more often
// than the table has it.
//
// One round; adds the weights it found to `found_weights`.
void weight_round(std::set<int>& found_weights) {
    constexpr int kWorkers = 32, kServices = 128;
    const int32_t n = 512;
    Node node(quiet_options(kWorkers));
    struct Entry {
        std::thread::id thread;
        int service;
        int32_t seq;
        int finished;  // services whose last message had run before this one
    };
    std::mutex log_lock;
    int finished = 0;        // guarded by log_lock
    std::vector<Entry> log;  // in the order the messages ran, so each thread's entries are ordered
    log.reserve(size_t(kServices) * size_t(n));
    std::atomic<int> index{0}, holding{0};
    std::atomic<bool> go{false};
    node.modules().add("numbered", [&] {
        auto m = std::make_unique<FnModule>();
        const int service = index.fetch_add(1);
        m->on_msg = [&, service](Service&, Message& msg) {
            if (msg.session == 0) {
                holding.fetch_add(1);
                go.wait(false,
                        std::memory_order_acquire);  // blocked, not yielding: all wake at once
            }
            // A few microseconds a message: the run lasts long enough for every worker to get a
            // core on a busy machine (32 workers, few cores).
            auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(5);
            while (std::chrono::steady_clock::now() < until)
                cpu_relax();
            std::lock_guard g(log_lock);
            log.push_back({std::this_thread::get_id(), service, msg.session, finished});
            if (msg.session == n - 1) ++finished;
        };
        return m;
    });
    ASSERT_TRUE(node.start());
    std::vector<Handle> services;
    for (int i = 0; i < kServices; ++i)
        services.push_back(node.launch("numbered", "").value());
    for (int32_t seq = 0; seq < n; ++seq)
        for (Handle h : services)
            ASSERT_TRUE(node.send(Handle(), h, MessageType::text, seq, {}));
    // Every worker holds a first message: all of them take part from here on.
    ASSERT_TRUE(wait_until([&] { return holding.load() == kWorkers; }));
    go.store(true, std::memory_order_release);
    go.notify_all();
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard g(log_lock);
        return log.size() == size_t(kServices) * size_t(n);
    }));
    node.shutdown();

    const int weights[] = {-1, 0, 1, 2, 3};
    auto batch = [n](int weight, int32_t start) {
        int32_t queued = n - start;
        return weight < 0 ? 1 : std::max<int32_t>(1, queued >> weight);
    };
    struct Fit {
        std::set<int> splits{-1, 0, 1, 2, 3};  // weights every run splits into
        std::map<int, int> exact;              // weight -> runs that are exactly one batch of it
    };
    std::map<std::thread::id, std::vector<const Entry*>> by_thread;
    for (const Entry& e : log)
        by_thread[e.thread].push_back(&e);
    std::map<std::thread::id, Fit> fits;
    for (auto& [thread, entries] : by_thread) {
        Fit& fit = fits[thread];
        for (size_t i = 0; i < entries.size();) {
            size_t j = i + 1;
            while (j < entries.size() && entries[j]->service == entries[i]->service)
                ++j;
            const int32_t start = entries[i]->seq, len = int32_t(j - i);
            const int finished_at_end = entries[j - 1]->finished;
            i = j;
            // Near the end the queue may hold nothing but this service, and then one worker takes
            // it batch after batch; a run reaching the last message could be such a merge, so it
            // counts only while more services have messages than there are workers to hold them.
            const bool may_merge = kServices - finished_at_end <= kWorkers + 8;
            // A run holding message 0 began with the held batch, sized before the queue filled.
            if (start == 0) continue;
            for (int w : weights) {
                int32_t s = start;
                while (s < start + len)
                    s += batch(w, s);
                if (s != start + len) fit.splits.erase(w);
                if (batch(w, start) == len && !may_merge) fit.exact[w]++;
            }
        }
    }
    std::map<int, int> found;  // weight -> workers found to have it
    for (auto& [thread, fit] : fits) {
        EXPECT_FALSE(fit.splits.empty()) << "a worker's runs split into batches of no weight";
        int best = 0, best_weight = 0, ties = 0;
        for (int w : fit.splits) {
            if (fit.exact[w] > best) {
                best = fit.exact[w];
                best_weight = w;
                ties = 0;
            } else if (fit.exact[w] == best) {
                ++ties;
            }
        }
        if (best > 0 && ties == 0) found[best_weight]++;
    }
    std::map<int, int> table;
    for (int i = 0; i < kWorkers; ++i)
        table[Scheduler::weight_of(i)]++;
    for (int w : weights) {
        if (found[w] > 0) found_weights.insert(w);
        EXPECT_LE(found[w], table[w]) << "more workers of weight " << w << " than the table has";
    }
}

TEST(Scheduler, WorkerWeightSetsTheBatchTakenFromALongQueue) {
    // A worker that hardly got a core (the machine may be busy) shows no weight: try again, up
    // to three rounds, until every weight has been seen. Every round checks the upper bounds.
    std::set<int> found;
    for (int round = 0; round < 3 && found.size() < 5 && !HasFailure(); ++round)
        weight_round(found);
    for (int w : {-1, 0, 1, 2, 3})
        EXPECT_EQ(found.count(w), 1u) << "no worker took the batches of weight " << w;
}

// A config of one key, as if set at `line` of n.lua.
Config config_with(std::string key, std::string value, int line = 1) {
    Config c("n.lua");
    c.set(std::move(key), std::move(value), "n.lua", line);
    return c;
}

// An integer key of NodeOptions: `good` reaches `field`, a config without the key leaves
// `fallback`, and each of `bad` is refused with a message naming the key and its line.
void expect_int_key(const char* key, int NodeOptions::*field, const char* good, int expected,
                    int fallback, std::initializer_list<const char*> bad) {
    auto set = NodeOptions::from_config(config_with(key, good));
    ASSERT_TRUE(set) << key;
    EXPECT_EQ(set.value().*field, expected) << key;
    auto unset = NodeOptions::from_config(config_with("thread", "2"));
    ASSERT_TRUE(unset);
    EXPECT_EQ(unset.value().*field, fallback) << key;
    for (const char* value : bad) {
        auto refused = NodeOptions::from_config(config_with(key, value, 3));
        ASSERT_FALSE(refused) << key << " = " << value;
        const std::string& message = refused.error().message;
        EXPECT_NE(message.find(key), std::string::npos) << message;
        EXPECT_NE(message.find("n.lua:3"), std::string::npos) << message;
    }
}

TEST(Scheduler, WorkerSpinIsReadFromConfigAndChecked) {
    expect_int_key("worker_spin", &NodeOptions::spin_us, "0", 0, 50, {"-5", "100001"});
}

TEST(Scheduler, InlineBudgetIsReadFromConfigAndChecked) {
    expect_int_key("socket_inline_budget", &NodeOptions::guest_budget_us, "250", 250, 1000,
                   {"0", "1000001", "fast"});
}

TEST(Scheduler, InlineLimitIsReadFromConfigAndChecked) {
    expect_int_key("socket_inline_limit", &NodeOptions::guest_overrun_ms, "25", 25, 10,
                   {"0", "60001", "slow"});
}

}  // namespace
}  // namespace skyhive::test
