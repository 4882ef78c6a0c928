// Actor-core throughput, thread = 2, C++ services. One line per figure:
//   core.<name> <value> <unit> [ref=<value> ratio=<value>]
// The reference for ping-pong is measured in the same run and sits near the physical limit: two
// threads bouncing a message through a lock-free single-producer single-consumer ring each, idling
// with the workers' own policy (spin, then park on a futex; the sender wakes only a parked
// receiver). The textbook design (a mutex + condition-variable mailbox each) is printed beside it
// as core.pingpong.ref_mutex. skynet's figure from the issue (3.5M round trips/s, C services,
// profiling off, same machine kind) is printed for context.
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/node.h"
#include "core/service.h"
#include "core/spinlock.h"

using namespace skyhive;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

NodeOptions bench_options() {
    NodeOptions o;
    o.threads = 2;
    o.log_level = LogLevel::error;
    return o;
}

struct Lambda : Module {
    std::function<void(Service&, Message&)> fn;
    bool init(Service&, std::string_view) override { return true; }
    void on_message(Service& s, Message& m) override { fn(s, m); }
};

void add(Node& node, const std::string& name, std::function<void(Service&, Message&)> fn) {
    node.modules().add(name, [fn] {
        auto m = std::make_unique<Lambda>();
        m->fn = fn;
        return m;
    });
}

// `pairs` pairs of services bounce one message each; returns round trips per second.
double pingpong(int pairs, double duration) {
    Node node(bench_options());
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> bounces{0};
    add(node, "bounce", [&](Service& self, Message& m) {
        if (stop.load(std::memory_order_relaxed)) {
            bounces.fetch_add(self.stats().messages.load(std::memory_order_relaxed));
            return;
        }
        self.send(m.source, MessageType::lua, 0, std::move(m.payload));
    });
    (void)node.start();
    std::vector<Handle> hs;
    for (int i = 0; i < pairs * 2; ++i)
        hs.push_back(node.launch("bounce", "").value());
    auto t0 = Clock::now();
    for (int i = 0; i < pairs; ++i)
        node.send(hs[size_t(2 * i)], hs[size_t(2 * i + 1)], MessageType::lua, 0,
                  Payload::copy("ping0123"));
    std::this_thread::sleep_for(std::chrono::duration<double>(duration));
    uint64_t total = 0;
    for (Handle h : hs)
        node.with_service(h, [&](Service& s) { total += s.stats().messages.load(); });
    double secs = seconds_since(t0);
    stop = true;
    node.shutdown();
    return double(total) / 2 / secs;
}

// The textbook reference: each side owns a mutex-guarded deque and a condition variable.
double naive_pingpong(double duration) {
    struct Box {
        std::mutex m;
        std::condition_variable cv;
        std::deque<std::string> q;
    } a, b;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> count{0};
    auto side = [&](Box& in, Box& out) {
        for (;;) {
            std::unique_lock g(in.m);
            in.cv.wait(g, [&] { return !in.q.empty(); });
            std::string msg = std::move(in.q.front());
            in.q.pop_front();
            g.unlock();
            if (msg == "stop") return;
            count.fetch_add(1, std::memory_order_relaxed);
            bool last = stop.load();
            {
                std::lock_guard o(out.m);
                out.q.push_back(last ? "stop" : std::move(msg));
                out.cv.notify_one();
            }
            if (last) return;
        }
    };
    auto t0 = Clock::now();
    std::thread t1(side, std::ref(a), std::ref(b)), t2(side, std::ref(b), std::ref(a));
    {
        std::lock_guard g(a.m);
        a.q.push_back("ping0123");
        a.cv.notify_one();
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(duration));
    uint64_t n = count.load();
    double secs = seconds_since(t0);
    stop = true;
    t1.join();
    t2.join();
    return double(n) / 2 / secs;
}

// What one side of the reference ping-pong carries: the fields a message header needs and a small
// payload, copied by value (no allocation, as skyhive moves an owned payload).
struct RefMessage {
    uint32_t source = 0;
    int32_t session = 0;
    char data[8] = {};
    bool stop = false;
};

// A bounded lock-free ring with one producer thread and one consumer thread, whose consumer idles
// as a skyhive worker does (Scheduler::spin_for_work, Scheduler::park): it polls for `spin_us`,
// yielding every fourth poll and pausing the CPU between the others, then announces that it sleeps
// and parks on a futex. The producer pays for a wake-up only when the consumer has parked.
// Thread: push from the producer thread only, pop from the consumer thread only.
class SpscMailbox {
  public:
    explicit SpscMailbox(int spin_us)
        : spin_cycles_(uint64_t(double(spin_us) * 1000.0 / ns_per_cycle())) {}

    void push(const RefMessage& m) {
        const uint64_t tail = tail_.load(std::memory_order_relaxed);
        while (tail - head_.load(std::memory_order_acquire) == kSize)
            cpu_relax();  // full: cannot happen in a ping-pong, kept for correctness
        slots_[tail % kSize] = m;
        // seq_cst: a Dekker handshake with pop_wait's `sleeping_` store and re-check.
        tail_.store(tail + 1, std::memory_order_seq_cst);
        if (sleeping_.load(std::memory_order_seq_cst) != 0 &&
            sleeping_.exchange(0, std::memory_order_seq_cst) != 0)
            syscall(SYS_futex, reinterpret_cast<uint32_t*>(&sleeping_), FUTEX_WAKE_PRIVATE, 1,
                    nullptr, nullptr, 0);
    }

    // Blocks until a message comes.
    RefMessage pop_wait() {
        const uint64_t head = head_.load(std::memory_order_relaxed);
        if (tail_.load(std::memory_order_acquire) == head) idle(head);
        RefMessage m = slots_[head % kSize];
        head_.store(head + 1, std::memory_order_release);
        return m;
    }

  private:
    static constexpr uint64_t kSize = 64;

    void idle(uint64_t head) {
        const uint64_t deadline = cycle_now() + spin_cycles_;
        for (unsigned polls = 1; tail_.load(std::memory_order_acquire) == head; ++polls) {
            if (cycle_now() > deadline) {
                park(head);
                return;
            }
            if (polls % 4 == 0)
                sched_yield();
            else
                for (int i = 0; i < 16; ++i)
                    cpu_relax();
        }
    }

    void park(uint64_t head) {
        for (;;) {
            sleeping_.store(1, std::memory_order_seq_cst);
            if (tail_.load(std::memory_order_seq_cst) != head) break;
            syscall(SYS_futex, reinterpret_cast<uint32_t*>(&sleeping_), FUTEX_WAIT_PRIVATE, 1,
                    nullptr, nullptr, 0);
            if (tail_.load(std::memory_order_acquire) != head) break;
        }
        sleeping_.store(0, std::memory_order_relaxed);
    }

    const uint64_t spin_cycles_;
    alignas(64) std::atomic<uint64_t> head_{0};  // written by the consumer
    alignas(64) std::atomic<uint64_t> tail_{0};  // written by the producer
    alignas(64) std::atomic<uint32_t> sleeping_{0};
    alignas(64) std::array<RefMessage, kSize> slots_{};
};

// The reference near the physical limit: each side owns an SpscMailbox and idles with the
// workers' spin (NodeOptions::spin_us) and futex policy. Returns round trips per second.
double spsc_pingpong(double duration) {
    const int spin_us = NodeOptions{}.spin_us;
    SpscMailbox a(spin_us), b(spin_us);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> count{0};
    auto side = [&](SpscMailbox& in, SpscMailbox& out, uint32_t self) {
        uint64_t n = 0;
        for (;;) {
            RefMessage m = in.pop_wait();
            if (m.stop) break;
            ++n;
            m.source = self;
            m.stop = stop.load(std::memory_order_relaxed);
            out.push(m);
            if (m.stop) break;
        }
        count.fetch_add(n, std::memory_order_relaxed);
    };
    std::thread t1(side, std::ref(a), std::ref(b), 1u), t2(side, std::ref(b), std::ref(a), 2u);
    auto t0 = Clock::now();
    RefMessage first;
    std::memcpy(first.data, "ping0123", 8);
    a.push(first);
    std::this_thread::sleep_for(std::chrono::duration<double>(duration));
    stop = true;
    t1.join();
    t2.join();
    double secs = seconds_since(t0);
    return double(count.load()) / 2 / secs;
}

// One producer streams messages to `consumers` services: bursts of 256 to each, each burst closed
// by a request the consumer answers; two bursts are in flight, so mailboxes never run dry and the
// backlog stays bounded. Returns messages delivered per second.
double flood(int consumers, double duration) {
    Node node(bench_options());
    std::atomic<bool> stop{false};
    std::vector<Handle> sinks;
    int acks = 0;
    add(node, "sink", [](Service& self, Message& m) {
        if (m.session > 0) self.send(m.source, MessageType::response, m.session, {});
    });
    auto burst = [&](Service& self) {
        for (Handle h : sinks) {
            for (int i = 0; i < 256; ++i)
                self.send(h, MessageType::lua, 0, {});
            self.send(h, MessageType::lua, 1, {});
        }
    };
    add(node, "producer", [&](Service& self, Message& m) {
        if (stop.load(std::memory_order_relaxed)) return;
        if (m.type != MessageType::response) {  // the kick-off
            burst(self);
            burst(self);
            return;
        }
        if (++acks % consumers == 0) burst(self);
    });
    (void)node.start();
    for (int i = 0; i < consumers; ++i)
        sinks.push_back(node.launch("sink", "").value());
    Handle p = node.launch("producer", "").value();
    auto t0 = Clock::now();
    node.send(Handle(), p, MessageType::lua, 0, {});
    std::this_thread::sleep_for(std::chrono::duration<double>(duration));
    uint64_t total = 0;
    for (Handle h : sinks)
        node.with_service(h, [&](Service& s) { total += s.stats().messages.load(); });
    double secs = seconds_since(t0);
    stop = true;
    node.shutdown();
    return double(total) / secs;
}

// Launches and retires `n` services from the main thread; returns launches per second.
double spawn(int n) {
    Node node(bench_options());
    add(node, "nop", [](Service&, Message&) {});
    (void)node.start();
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        Handle h = node.launch("nop", "").value();
        node.kill(h);
    }
    while (node.service_count() > 1)
        std::this_thread::yield();
    double secs = seconds_since(t0);
    node.shutdown();
    return n / secs;
}

}  // namespace

int main(int argc, char** argv) {
    double d = argc > 1 ? std::atof(argv[1]) : 2.0;
    std::string only = argc > 2 ? argv[2] : "";  // run one scenario: pingpong, flood, fanout, spawn
    auto want = [&](const char* name) { return only.empty() || only == name; };
    if (want("pingpong")) {
        double ref = spsc_pingpong(d);
        double ref_mutex = naive_pingpong(d);
        for (int pairs : {1, 8}) {
            double r = pingpong(pairs, d);
            std::printf(
                "core.pingpong.pairs%d %.0f rtt/s ref=%.0f ratio=%.2f "
                "skynet_issue=3500000 target=5000000\n",
                pairs, r, ref, r / ref);
        }
        std::printf("core.pingpong.ref_mutex %.0f rtt/s (two threads, mutex+condvar mailboxes)\n",
                    ref_mutex);
    }
    if (want("flood")) std::printf("core.flood.1to1 %.0f msgs/s\n", flood(1, d));
    if (want("fanout")) std::printf("core.fanout.1to8 %.0f msgs/s\n", flood(8, d));
    if (want("spawn")) std::printf("core.spawn %.0f services/s\n", spawn(200000));
    return 0;
}
