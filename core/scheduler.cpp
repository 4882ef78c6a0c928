#include "core/scheduler.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

#include "core/clock.h"
#include "core/deferred.h"
#include "core/node.h"
#include "core/service.h"

namespace skyhive {

namespace {
constexpr size_t kBatch = 32;  // messages moved out of a mailbox per lock acquisition
// How many batches a worker may run from its next slot while the global queue is not empty.
constexpr unsigned kMaxStreak = 8;
// A spinner whose last poll is older than this is taken to be preempted (see notify).
constexpr double kStaleSpinUs = 20;

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
            nullptr, 0);
}

void futex_wake(std::atomic<uint32_t>& word) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
            0);
}

// Only the worker holding the mailbox (and owning the WorkerState) writes these, so plain
// load+store suffices (no atomic read-modify-write on the hot path).
void account(ServiceStats& stats, WorkerState& worker, uint64_t messages, uint64_t cycles) {
    stats.messages.store(stats.messages.load(std::memory_order_relaxed) + messages,
                         std::memory_order_relaxed);
    worker.messages.store(worker.messages.load(std::memory_order_relaxed) + messages,
                          std::memory_order_relaxed);
    stats.cpu_cycles.store(stats.cpu_cycles.load(std::memory_order_relaxed) + cycles,
                           std::memory_order_relaxed);
}
}  // namespace

struct Scheduler::Worker {
    const Scheduler* owner = nullptr;
    int weight = -1;
    WorkerState* state = nullptr;
    Mailbox* next = nullptr;  // run after the current batch; see the class comment
    unsigned streak = 0;      // batches run from `next` in a row while the global queue waited
    uint64_t clock = 0;       // cycle_now() at the end of the last message (0 after sleeping)
    Message batch[kBatch];    // reused, so a dispatch constructs no messages
    bool nested = false;      // guests: running a service inside another's handler (run_here)
    // Guests: services made schedulable by what ran here and left to run next on this thread
    // (run_on_guest), in order: a FIFO of up to kGuestSlots.
    Mailbox* slots[kGuestSlots] = {};
    uint8_t slots_head = 0, slots_len = 0;
    // Guests: this thread's clock and run-queue delay, taken where a delivery began at most
    // mark_age_cycles_ before it (refresh_mark), to tell a handler that overran from a thread
    // that was preempted.
    RunMark mark;
    // Guests: cycle_now() at which the delivery being run has spent its budget (set where
    // one begins: run_here outside any handler, release_wakes).
    uint64_t budget_end = 0;
};

namespace {
thread_local Scheduler::Worker* tls_worker = nullptr;
// This thread's guest slot, if it has one, and the id of the scheduler it belongs to (an id, not
// the address: a later scheduler may be built where a destroyed one was).
thread_local Scheduler::Worker* tls_guest = nullptr;
thread_local uint64_t tls_guest_of = 0;
// The scheduler whose wake-ups this thread holds (hold_wakes), and whether one is due.
thread_local const Scheduler* tls_held = nullptr;
thread_local bool tls_wake_due = false;
std::atomic<uint64_t> next_scheduler_id{1};
}  // namespace

int Scheduler::weight_of(int worker_index) {
    // skynet's table: the first workers take one message per turn (latency), later ones take more
    // of a long queue at once (throughput).
    static constexpr int8_t table[] = {-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                       2,  2,  2,  2,  2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    return worker_index < int(std::size(table)) ? table[worker_index] : 0;
}

Scheduler::Scheduler(Node& node, int threads, int spin_us, int guest_budget_us,
                     int guest_overrun_ms)
    : node_(node),
      id_(next_scheduler_id.fetch_add(1, std::memory_order_relaxed)),
      spin_cycles_(uint64_t(double(std::max(0, spin_us)) * 1000.0 / ns_per_cycle())),
      stale_spin_cycles_(uint64_t(kStaleSpinUs * 1000.0 / ns_per_cycle())),
      overrun_ms_(uint64_t(std::max(1, guest_overrun_ms))),
      overrun_cycles_(uint64_t(double(overrun_ms_) * 1e6 / ns_per_cycle())),
      mark_age_cycles_(uint64_t(double(std::min<uint64_t>(kMarkAgeUs, overrun_ms_ * 1000 / 8)) *
                                1e3 / ns_per_cycle())),
      budget_cycles_(uint64_t(double(std::max(1, guest_budget_us)) * 1e3 / ns_per_cycle())),
      deferred_flush_cycles_(uint64_t(deferred::kDeferredFlushUs * 1000.0 / ns_per_cycle())),
      parkers_(std::make_unique<Parker[]>(size_t(std::max(1, threads)))) {
    workers_count_ = std::max(1, threads);
    idle_.reserve(size_t(workers_count_));
    for (int i = 0; i < workers_count_ + kGuests; ++i) {
        states_.push_back(std::make_unique<WorkerState>());
        auto w = std::make_unique<Worker>();
        w->owner = this;
        w->weight = i < workers_count_ ? weight_of(i) : -1;
        w->state = states_.back().get();
        locals_.push_back(std::move(w));
    }
}

Scheduler::~Scheduler() {
    stop();
}

void Scheduler::start() {
    running_.store(true, std::memory_order_release);
    for (int i = 0; i < workers_count_; ++i)
        workers_.emplace_back([this, i] { run(i); });
}

void Scheduler::stop() {
    running_.store(false, std::memory_order_seq_cst);
    // A worker parks only after checking running_ (seq_cst, after joining the idle stack), so
    // every worker either sees the flag or is on the stack and woken here.
    while (sleeping_.load(std::memory_order_seq_cst) > 0)
        wake_one();
    for (auto& t : workers_)
        if (t.joinable()) t.join();
    workers_.clear();
}

bool Scheduler::on_worker() const {
    return tls_worker && tls_worker->owner == this;
}

Scheduler::Worker* Scheduler::guest() {
    if (tls_guest_of == id_) return tls_guest;
    // First time here (or last a guest of another scheduler): slots are not handed back, so a
    // thread moving between schedulers uses them up and then leaves the work to the workers.
    int slot = guests_claimed_.fetch_add(1, std::memory_order_relaxed);
    if (slot >= kGuests) return nullptr;
    tls_guest = locals_[size_t(workers_count_ + slot)].get();
    tls_guest_of = id_;
    return tls_guest;
}

bool Scheduler::on_guest() const {
    return tls_guest && tls_guest_of == id_;
}

bool Scheduler::run_on_guest(Mailbox* mb) {
    if (!on_guest()) return false;
    Worker& g = *tls_guest;
    // Inside a handler, the service runs right after it; outside one (the socket thread routing
    // an answer from deep inside its read), once the thread releases its wake-ups at the end of
    // its round (see the class comment). Only one waits so.
    const bool in_handler =
        WorkerState::dest_of(g.state->current.load(std::memory_order_relaxed)) != 0;
    if (g.slots_len == kGuestSlots || (!in_handler && tls_held != this)) return false;
    g.slots[(g.slots_head + g.slots_len) % kGuestSlots] = mb;
    ++g.slots_len;
    return true;
}

bool Scheduler::run_here(Mailbox* mb) {
    assert(!on_worker() && "Scheduler::run_here: for threads that are not workers");
    Worker* g = guest();
    if (!g) return false;
    // One level of nesting: a handler running here (a gate) may deliver to a second opted-in
    // service (its agent), which then runs inside it. The outer message stays where it is (the
    // inner one gets its own slot) and the monitor watches the inner service until it returns.
    const uint32_t outer = WorkerState::dest_of(g->state->current.load(std::memory_order_relaxed));
    if (outer != 0 && g->nested) return false;
    if (outer == 0) {
        refresh_mark(*g);
        g->budget_end = cycle_now() + budget_cycles_;
    }
    run_guest_batch(*g, mb, outer);
    if (outer == 0) run_guest_chain(*g);
    return true;
}

void Scheduler::run_guest_chain(Worker& g) {
    // Services the handlers made schedulable and left in the slots run next, in order, a few in
    // a row (a request, its answer and a notice, the next request); the rest go to the workers.
    for (int hops = 0; g.slots_len > 0; ++hops) {
        Mailbox* next = g.slots[g.slots_head];
        g.slots_head = uint8_t((g.slots_head + 1) % kGuestSlots);
        --g.slots_len;
        if (hops == kGuestChain || cycle_now() >= g.budget_end) {
            queue_.push(next);
            while (g.slots_len > 0) {
                queue_.push(g.slots[g.slots_head]);
                g.slots_head = uint8_t((g.slots_head + 1) % kGuestSlots);
                --g.slots_len;
            }
            notify();
            break;
        }
        run_guest_batch(g, next, 0);
    }
}

void Scheduler::run_guest_batch(Worker& g, Mailbox* mb, uint32_t outer) {
    WorkerState& state = *g.state;
    const uint32_t outer_source = state.source.load(std::memory_order_relaxed);
    Service* svc = mb->owner;
    Module* module = svc->module_.get();
    Message inner;
    Message& msg = outer != 0 ? inner : g.batch[0];
    if (outer != 0) g.nested = true;
    uint64_t t0 = cycle_now();
    const uint64_t first = t0;
    uint64_t count = 0;
    uint32_t version = WorkerState::version_of(state.current.load(std::memory_order_relaxed));
    const uint32_t dest = svc->handle().value;
    // A retire request (exit() in a message, kill() from elsewhere) is left to a worker: the
    // queued mailbox reaches one, which retires the service as it does any other.
    while (count < kGuestBatch && !mb->retiring() && mb->pop(&msg, 1) == 1) {
        // The service is published with each message, after its start (see WorkerState).
        state.source.store(msg.source.value, std::memory_order_relaxed);
        state.started.store(t0, std::memory_order_relaxed);
        state.current.store(WorkerState::pack(++version, dest), std::memory_order_release);
        if (const uint8_t watch = svc->watching(); watch != 0) [[unlikely]]
            node_.run_watched(*svc, msg, watch);
        else
            module->on_message(*svc, msg);
        msg.payload = Payload();
        const uint64_t t1 = cycle_now();
        if (t1 - t0 > overrun_cycles_ && !g.mark.only_preempted_since(overrun_ms_ * 1'000'000))
            [[unlikely]]
            report_overrun(*svc, cycles_to_ns(t1 - t0) / 1'000'000, g.mark.valid);
        t0 = t1;
        ++count;
        if (t1 >= g.budget_end) break;  // the rest of the batch goes to the workers
    }
    account(svc->stats_, state, count, t0 - first);
    svc->stats_.inline_messages.store(
        svc->stats_.inline_messages.load(std::memory_order_relaxed) + count,
        std::memory_order_relaxed);
    if (outer != 0) {
        // Back in the outer handler: watched again from now on.
        g.nested = false;
        state.source.store(outer_source, std::memory_order_relaxed);
        state.started.store(t0, std::memory_order_relaxed);
        state.current.store(WorkerState::pack(++version, outer), std::memory_order_release);
    } else {
        state.current.store(WorkerState::pack(version, 0), std::memory_order_relaxed);
    }
    if (size_t len = mb->overload())
        node_.log(svc->handle(), LogLevel::warn,
                  "mailbox overload: " + std::to_string(len) + " messages queued");
    if (mb->finish()) {
        queue_.push(mb);
        notify();
    }
}

void Scheduler::report_overrun(Service& svc, uint64_t ms, bool judged) {
    const bool stopped = svc.module_->inline_overrun(svc, ms);
    char text[384];
    std::snprintf(text, sizeof text,
                  "a message run inline (on the socket thread) took %llu ms, past the %llu ms "
                  "limit; no other socket was served meanwhile%s%s",
                  static_cast<unsigned long long>(ms), static_cast<unsigned long long>(overrun_ms_),
                  stopped ? "; this service's messages go to the workers from now on" : "",
                  judged ? ""
                         : " (whether the thread only waited for a core is not known: "
                           "/proc/thread-self/schedstat could not be read)");
    node_.log(svc.handle(), LogLevel::warn, text);
}

void Scheduler::push(Mailbox* mb, Wake wake) {
    if (wake == Wake::deferred) {
        Worker* w = tls_worker;
        if (w && w->owner == this && !w->next) {
            w->next = mb;
            return;
        }
    }
    queue_.push(mb);
    if (wake == Wake::now) notify();
}

void Scheduler::hold_wakes() {
    assert(!on_worker() && !tls_held && "Scheduler::hold_wakes: not on a worker, not nested");
    tls_held = this;
    tls_wake_due = false;
}

namespace {
// This thread's /proc/thread-self/schedstat, opened at its first mark and closed when the thread
// ends; -1 where it cannot be opened (then marks are invalid and cost no system call).
struct SchedstatFile {
    int fd = -2;  // -2: not opened yet
    ~SchedstatFile() {
        if (fd >= 0) ::close(fd);
    }
    int get() {
        if (fd == -2) fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        return fd;
    }
};
thread_local SchedstatFile tls_schedstat;
}  // namespace

Scheduler::RunMark Scheduler::RunMark::now() {
    // "<ns on a CPU> <ns waiting on a run queue> <times scheduled in>\n"
    const int fd = tls_schedstat.get();
    if (fd < 0) return {};
    char text[96];
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    const uint64_t at = cycle_now();
    if (n <= 0) return {};
    const char* end = text + n;
    const char* p = static_cast<const char*>(std::memchr(text, ' ', size_t(n)));
    uint64_t waited = 0;
    if (!p || std::from_chars(p + 1, end, waited).ec != std::errc()) return {};
    return {at, waited, true};
}

void Scheduler::refresh_mark(Worker& g) const {
    if (!g.mark.valid || cycle_now() - g.mark.at > mark_age_cycles_) [[unlikely]]
        g.mark = RunMark::now();
}

bool Scheduler::RunMark::only_preempted_since(uint64_t limit_ns) const {
    if (!valid) return false;
    const RunMark later = now();
    if (!later.valid) return false;
    // Wall time since the mark is time on a CPU, asleep or blocked, or waiting for a core; the
    // first two are what a handler can be blamed for, and the mark came before the message.
    const uint64_t elapsed = cycles_to_ns(later.at - at);
    const uint64_t waited = later.waited_ns - waited_ns;
    return waited >= elapsed || elapsed - waited < limit_ns;
}

void Scheduler::release_wakes() {
    assert(tls_held == this && "Scheduler::release_wakes without hold_wakes");
    // What run_on_guest left in the slot outside a handler runs now, its wake-ups still held.
    if (on_guest() && tls_guest->slots_len > 0) {
        refresh_mark(*tls_guest);
        tls_guest->budget_end = cycle_now() + budget_cycles_;
        run_guest_chain(*tls_guest);
    }
    tls_held = nullptr;
    if (std::exchange(tls_wake_due, false)) notify();
}

void Scheduler::notify() {
    if (tls_held == this) {
        tls_wake_due = true;
        return;
    }
    // Dekker handshakes, every access sequentially consistent: push() raised the queue's size
    // before these loads. A spinner clears spinning_ and a parking worker raises sleeping_ before
    // re-checking the size, so either it sees the new mailbox or we see it and (if parked) wake it.
    // A spinner that has not polled for kStaleSpinUs has lost its core (more runnable threads
    // than cores): it may not run for a whole time slice, so a parked worker is woken after all.
    if (spinning_.load(std::memory_order_seq_cst) > 0 &&
        cycle_now() - spin_poll_.load(std::memory_order_relaxed) < stale_spin_cycles_)
        return;
    if (sleeping_.load(std::memory_order_seq_cst) > 0) wake_one();
}

void Scheduler::wake_one() {
    int index = -1;
    {
        std::lock_guard guard(idle_lock_);
        if (idle_.empty()) return;
        index = idle_.back();
        idle_.pop_back();
        sleeping_.fetch_sub(1, std::memory_order_seq_cst);
    }
    Parker& p = parkers_[size_t(index)];
    p.word.store(1, std::memory_order_release);
    futex_wake(p.word);
}

Mailbox* Scheduler::spin_for_work() {
    if (spin_cycles_ == 0) return nullptr;
    int expected = 0;
    if (spinning_.load(std::memory_order_relaxed) != 0 ||
        !spinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst))
        return nullptr;
    uint64_t now = cycle_now();
    const uint64_t deadline = now + spin_cycles_;
    Mailbox* mb = nullptr;
    for (unsigned polls = 1; running_.load(std::memory_order_relaxed); ++polls) {
        spin_poll_.store(now, std::memory_order_relaxed);
        if (queue_.size() > 0 && (mb = queue_.pop())) break;
        if ((now = cycle_now()) > deadline) break;
        // With more runnable threads than cores (the socket thread, a local redis-server), a
        // spinner must not hold the core that would produce its work: yield every few polls.
        if (polls % 4 == 0)
            sched_yield();
        else
            for (int i = 0; i < 16; ++i)
                cpu_relax();
    }
    spinning_.store(0, std::memory_order_seq_cst);
    // A push that saw us spinning did not wake anyone: look once more now that we are not.
    if (!mb && queue_.size_seq_cst() > 0) mb = queue_.pop();
    return mb;
}

bool Scheduler::park(int index) {
    Parker& p = parkers_[size_t(index)];
    p.word.store(0, std::memory_order_relaxed);
    {
        std::lock_guard guard(idle_lock_);
        idle_.push_back(index);
        sleeping_.fetch_add(1, std::memory_order_seq_cst);
    }
    // Sleep unless work (or stop) came in meanwhile.
    if (queue_.size_seq_cst() == 0 && running_.load(std::memory_order_seq_cst)) {
        while (p.word.load(std::memory_order_acquire) == 0)
            futex_wait(p.word, 0);
    }
    // Leave the stack unless the waker took us off it. We can still be on it when we did not
    // sleep, or when the wake-up was meant for an earlier park (a waker takes a worker off the
    // stack, then sets its word: if that worker had left meanwhile and parked again, the late
    // store ends this park early). Staying on the stack while running would make a later
    // wake-up hit a worker that is not waiting.
    {
        std::lock_guard guard(idle_lock_);
        if (auto it = std::find(idle_.begin(), idle_.end(), index); it != idle_.end()) {
            idle_.erase(it);
            sleeping_.fetch_sub(1, std::memory_order_seq_cst);
        }
    }
    return running_.load(std::memory_order_acquire);
}

void Scheduler::run(int index) {
    Worker& w = *locals_[size_t(index)];
    tls_worker = &w;
    // Named for profilers and top -H (15 characters at most).
    pthread_setname_np(pthread_self(), ("worker " + std::to_string(index)).c_str());
    while (running_.load(std::memory_order_relaxed)) {
        Mailbox* mb = std::exchange(w.next, nullptr);
        if (mb && queue_.size() > 0 && ++w.streak > kMaxStreak) {
            // Queued services have waited long enough: the slot's service goes to the back.
            queue_.push(mb);
            mb = nullptr;
        }
        if (!mb) {
            w.streak = 0;
            mb = queue_.pop();
            if (!mb) {
                w.clock = 0;
                mb = spin_for_work();
                if (!mb) {
                    if (!park(index)) break;
                    continue;
                }
            }
            if (queue_.size() > 0) notify();  // more work queued: someone else may take it
        }
        dispatch(mb, w);
    }
    // A mailbox left in the slot keeps its messages; shutdown retires every service anyway.
    tls_worker = nullptr;
}

template <bool kWatched>
[[gnu::always_inline]] inline void Scheduler::dispatch_batch(Mailbox* mb, Worker& w) {
    const int weight = w.weight;
    WorkerState& state = *w.state;
    Message* batch = w.batch;
    Service* svc = mb->owner;
    if (mb->retiring()) {
        node_.retire(svc, nullptr, 0);
        w.clock = 0;
        return;
    }
    size_t want = weight < 0 ? 1 : std::max<size_t>(1, mb->size() >> weight);
    Module* module = svc->module_.get();
    uint64_t count = 0;
    // One clock read per message: a message's end is the next one's start, across dispatches too,
    // so the few tens of ns of queue work between two messages are charged to the second.
    uint64_t t0 = w.clock ? w.clock : cycle_now();
    const uint64_t first = t0;
    uint32_t version = WorkerState::version_of(state.current.load(std::memory_order_relaxed));
    const uint32_t dest = svc->handle().value;
    deferred::begin_batch();
    while (want > 0) {
        size_t got = mb->pop(batch, std::min(want, kBatch));
        if (got == 0) break;
        want -= got;
        for (size_t i = 0; i < got; ++i) {
            // The service is published with each message, after its start (see WorkerState).
            state.source.store(batch[i].source.value, std::memory_order_relaxed);
            state.started.store(t0, std::memory_order_relaxed);
            state.current.store(WorkerState::pack(++version, dest), std::memory_order_release);
            if constexpr (kWatched)
                node_.run_watched(*svc, batch[i], svc->watching());
            else
                module->on_message(*svc, batch[i]);
            batch[i].payload = Payload();
            t0 = cycle_now();
            ++count;
            if (deferred::pending() && t0 - first > deferred_flush_cycles_) [[unlikely]]
                deferred::flush();
            if (mb->retiring()) {  // exit() or kill() during the message
                deferred::end_batch();
                account(svc->stats_, state, count, t0 - first);
                state.current.store(WorkerState::pack(version, 0), std::memory_order_relaxed);
                node_.retire(svc, batch + i + 1, got - i - 1);
                w.clock = 0;
                return;
            }
        }
    }
    deferred::end_batch();
    account(svc->stats_, state, count, t0 - first);
    w.clock = t0;
    state.current.store(WorkerState::pack(version, 0), std::memory_order_relaxed);
    if (size_t len = mb->overload())
        node_.log(svc->handle(), LogLevel::warn,
                  "mailbox overload: " + std::to_string(len) + " messages queued");
    if (mb->finish()) queue_.push(mb);
}

uint64_t Scheduler::messages() const {
    uint64_t total = 0;
    for (const auto& st : states_)
        total += st->messages.load(std::memory_order_relaxed);
    return total;
}

void Scheduler::dispatch(Mailbox* mb, Worker& w) {
    assert(tls_worker == &w && "Scheduler::dispatch: only on the worker thread that owns `w`");
    // One relaxed load per batch (so at most one per message) picks the loop: the unwatched one
    // is the plain loop, with nothing added per message.
    if (mb->owner->watching() != 0) [[unlikely]]
        dispatch_watched(mb, w);
    else
        dispatch_batch<false>(mb, w);
}

// Out of line, so that the unwatched loop inlined in dispatch keeps its registers.
[[gnu::noinline]] void Scheduler::dispatch_watched(Mailbox* mb, Worker& w) {
    dispatch_batch<true>(mb, w);
}

}  // namespace skyhive
