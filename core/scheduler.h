#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "core/global_queue.h"
#include "core/handle.h"
#include "core/spinlock.h"

namespace skyhive {

class Node;
class Mailbox;
class Service;

// What a worker is doing, published for the monitor thread. Written only by its worker (one
// cache line per worker), read by the monitor.
//
// `current` holds the message's version (bumped for every message) and its service together, and
// is stored after the message's source and start, with release: a reader that acquires it sees
// that message's start or a later one, never an earlier one. So the monitor cannot pair a service
// with the start of a message before it. (Storing the service on its own when a batch begins,
// before its first message's start, would let a service just given a worker look stuck for as
// long as the worker had been idle.)
struct alignas(64) WorkerState {
    std::atomic<uint64_t> current{0};   // pack(version, dest); dest 0 when idle
    std::atomic<uint32_t> source{0};    // of the current message
    std::atomic<uint64_t> started{0};   // cycle_now() when the current message began
    std::atomic<uint64_t> messages{0};  // messages run by this thread (metrics)

    static constexpr uint64_t pack(uint32_t version, uint32_t dest) {
        return uint64_t(version) << 32 | dest;
    }
    static constexpr uint32_t version_of(uint64_t current) { return uint32_t(current >> 32); }
    static constexpr uint32_t dest_of(uint64_t current) { return uint32_t(current); }
};

// The workers and the global queue of mailboxes with messages.
//
// A worker takes a mailbox from the global queue, runs a batch of its messages sized by the
// worker's weight (skynet's table: -1 one message, 0 all, 1 half, 2 a quarter, 3 an eighth) and
// puts the mailbox back at the tail if messages remain, so services share workers round robin.
//
// Idle workers: a worker that finds the queue empty first spins, polling the queue for up to
// `spin_us` microseconds, if no other worker is spinning already (at most one spins, so an idle
// node burns at most one core, and only for that long after its last message). Then it parks on
// its own futex word and goes on a LIFO stack of parked workers, so the most recently active
// (cache-warm) worker is woken first.
//
// Wake-ups: a push from outside the workers (timer, socket thread, other threads) wakes a parked
// worker only when nobody is spinning (or the spinner has not polled for 20 us: preempted, it may
// not run again for a whole time slice); with a spinner, the hand-off costs no system call on
// either side, which is what a request/response through the socket thread pays per message
// otherwise. A push from a worker wakes nobody, except that a worker which finds more mailboxes
// queued behind the one it took wakes a parked one, so work spreads without a wake-up per message.
//
// A mailbox made schedulable by a send on a worker goes to that worker's "next" slot when the slot
// is free: the worker runs it right after the current batch without touching the global queue (a
// request/response pair then stays on one core). Other mailboxes go to the global queue. So that
// the slot cannot starve queued work, a worker runs at most 8 batches in a row from its slot while
// the global queue is not empty, then moves the slot's mailbox to the back of the queue.
//
// Guests: a thread that is not a worker (the socket thread) and has just made a mailbox
// schedulable may run a few of its messages itself (run_here), holding the mailbox exactly as a
// worker would, so the service still runs on one thread at a time. Each guest thread gets a
// WorkerState of its own, watched by the monitor like a worker's. What a guest sends to another
// idle service that opts in runs on the guest too (run_on_guest), from the guest's slots (a FIFO
// of kGuestSlots services): right after the handler, or, when sent outside any handler (an
// answer the socket thread routes), at the end of the thread's round (release_wakes). So a
// request, the service it goes to, the answer and a notice it sends on can all run on the
// socket thread without waking a worker.
//
// When a push wakes a parked worker: `now` (if one is needed, see Wake-ups above) from a thread
// that is not one of our workers; `deferred` from a worker (it finds the work itself) or from a
// thread that calls notify() once after a batch of pushes.
enum class Wake : uint8_t { deferred, now };

// Thread: push/notify/run_here from any thread; start/stop from the node's owner.
class Scheduler {
  public:
    // spin_us: how long an idle worker polls before parking; 0 parks at once.
    // guest_budget_us: what one delivery may run on a guest (the event's own batch, run_here,
    // or the services left for release_wakes, with the chain they start) stops taking messages
    // once this much wall time has passed since it began; the workers run what is left. So a
    // chain of handlers that each stay under kGuestOverrunMs cannot keep the socket thread from
    // its other sockets for kGuestChain * kGuestBatch of them. At least one message always runs.
    // guest_overrun_ms: the limit of one message run on a guest (kGuestOverrunMs below).
    Scheduler(Node& node, int threads, int spin_us, int guest_budget_us = 1000,
              int guest_overrun_ms = int(kGuestOverrunMs));
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    void start();
    // Joins the workers; messages still queued stay in their mailboxes.
    void stop();

    // Queues a mailbox that has just become schedulable.
    void push(Mailbox* mb, Wake wake);
    // Wakes a sleeping worker if there is one (after a batch of pushes made with Wake::deferred).
    // While the calling thread holds wake-ups, only notes that one is due.
    void notify();
    // From hold_wakes() to release_wakes(), the calling thread (not a worker) wakes nobody: its
    // pushes and run_here hand-offs only note that a wake-up is due, and release_wakes() does
    // that one. For a producer delivering a burst (MessageSink::hold_wakes). Not nested.
    void hold_wakes();
    void release_wakes();
    // True on a worker thread of this scheduler.
    bool on_worker() const;
    // The Wake for a push from the calling thread: deferred on a worker, now elsewhere.
    Wake wake_for_caller() const { return on_worker() ? Wake::deferred : Wake::now; }

    // Runs mb's messages on the calling thread, which is not a worker and has just been told to
    // schedule mb (Mailbox::push returned `schedule`, so the service is idle and the caller holds
    // it). Runs at most kGuestBatch messages, stops at a retire request, then releases the mailbox
    // or queues it for the workers if anything remains. Returns false, mailbox untouched and still
    // to be pushed by the caller, when every guest slot is taken by other threads.
    bool run_here(Mailbox* mb);
    // For a thread that already has a guest slot here (it has run a service with run_here: the
    // socket thread), a mailbox it has just made schedulable, of an opted-in service: keeps it in
    // the guest's slots, behind those already there. Inside a handler, the outermost run_here
    // runs them once its own service is done; outside one (while the thread holds its wake-ups),
    // release_wakes runs them, not deeper in the caller's stack (a framer mid-read). At most
    // kGuestChain in a row. False, mailbox untouched, when this thread is no guest, the slots are
    // full, or it is outside a handler without holding its wake-ups.
    bool run_on_guest(Mailbox* mb);
    // True on a thread with a guest slot of this scheduler.
    bool on_guest() const;
    static constexpr int kGuestChain = 32;
    // How many services a guest keeps to run next (run_on_guest): a handler that answers one
    // service and notifies another keeps both on the thread, and so does one that a batch of
    // Redis replies resumes for many callers at once (the game's world answering the agents of
    // a dozen transfers and notifying their receivers), which with fewer slots sent the rest to
    // the workers, a futex wake-up and a spinning worker each time.
    static constexpr uint8_t kGuestSlots = 32;
    static constexpr size_t kGuestBatch = 8;
    // A message run by run_here that takes longer than this is reported (Module::inline_overrun),
    // unless the thread only waited for a core meanwhile (RunMark): on a host with more runnable
    // threads than cores, a short handler preempted in the middle is not the handler's fault,
    // and sending its service to the workers for good would not give the time back. This is the
    // default; the config key socket_inline_limit sets it (NodeOptions::guest_overrun_ms).
    static constexpr uint64_t kGuestOverrunMs = 10;
    // A thread's clock and how long it has waited for a core so far (its run-queue delay, which
    // the kernel keeps in /proc/thread-self/schedstat). A guest takes one where a delivery
    // begins and keeps it for up to kMarkAgeUs (less with a limit under 8 ms: an eighth of
    // it), so a busy socket thread reads it about once a millisecond, not once per round.
    // Thread: the one it describes.
    struct RunMark {
        uint64_t at = 0;         // cycle_now() when taken
        uint64_t waited_ns = 0;  // the thread's run-queue delay then
        bool valid = false;      // false where the kernel does not say (no schedstat)
        static RunMark now();
        // True when, of the wall time since this mark, less than limit_ns was spent other than
        // waiting for a core (running, sleeping or blocked): a message that began after the
        // mark and took longer than the limit in wall time mostly waited to run. The time
        // between the mark and the message counts against it, so a handler within the mark's
        // age of the limit may be reported.
        bool only_preempted_since(uint64_t limit_ns) const;
    };
    static constexpr uint64_t kMarkAgeUs = 1000;
    static constexpr int kGuests = 4;  // threads that may run messages outside the workers

    int threads() const { return workers_count_; }
    // Messages run so far by the workers and guests (the sum of their WorkerStates).
    uint64_t messages() const;
    // Mailboxes waiting in the global queue.
    size_t queue_length() const { return queue_.size(); }
    // The states the monitor watches: the workers' (index < threads()), then the guests'.
    int watched() const { return int(states_.size()); }
    const WorkerState& state(int index) const { return *states_[size_t(index)]; }

    static int weight_of(int worker_index);

    // What only one worker thread touches (defined in scheduler.cpp).
    struct Worker;

  private:
    void run(int index);
    // Processes one batch of mb's service. Thread: the worker holding mb.
    void dispatch(Mailbox* mb, Worker& w);
    // dispatch's batch; kWatched: the service is watched (logon, trace), so each message goes
    // through Node::run_watched, which reads the watch again per message.
    template <bool kWatched>
    void dispatch_batch(Mailbox* mb, Worker& w);
    void dispatch_watched(Mailbox* mb, Worker& w);
    void wake_one();
    // Runs up to kGuestBatch of mb's messages on guest g (run_here's body); outer: the service g
    // was running when it got here (0: none), which it runs again afterwards.
    void run_guest_batch(Worker& g, Mailbox* mb, uint32_t outer);
    // Runs what waits in g's slots, and what those runs leave there, up to kGuestChain or
    // until g's budget is spent; the rest goes to the workers.
    void run_guest_chain(Worker& g);
    // Takes a new RunMark for guest g when it has none or its mark is older than
    // mark_age_cycles_. Called where a delivery begins, before its time budget starts: the
    // first mark of a thread opens a file, and under a sanitizer that took the 1 ms budget.
    void refresh_mark(Worker& g) const;
    // A message run_here ran took `ms`: tells the module, logs a warning. `judged`: whether the
    // thread's run-queue delay was known (RunMark), so that preemption could be told apart.
    void report_overrun(Service& svc, uint64_t ms, bool judged);
    // Polls the queue for spin_us if no other worker spins; nullptr when nothing came.
    Mailbox* spin_for_work();
    // Parks worker `index` until woken; false once the scheduler stops.
    bool park(int index);
    // The calling thread's guest slot, claimed on first use; nullptr when none is left.
    Worker* guest();

    Node& node_;
    const uint64_t id_;  // unique in the process, never reused (see guest())
    GlobalQueue queue_;
    std::vector<std::thread> workers_;
    std::vector<std::unique_ptr<WorkerState>> states_;
    std::vector<std::unique_ptr<Worker>> locals_;  // workers, then guests
    int workers_count_ = 0;
    std::atomic<int> guests_claimed_{0};
    std::atomic<bool> running_{false};

    uint64_t spin_cycles_ = 0;                        // spin_us in cycle_now() ticks
    uint64_t stale_spin_cycles_ = 0;                  // see notify()
    uint64_t overrun_ms_ = kGuestOverrunMs;           // the limit of one guest message
    uint64_t overrun_cycles_ = 0;                     // overrun_ms_ in cycle_now() ticks
    uint64_t mark_age_cycles_ = 0;                    // how long a guest keeps its RunMark
    uint64_t budget_cycles_ = 0;                      // guest_budget_us, likewise
    uint64_t deferred_flush_cycles_ = 0;              // deferred::kDeferredFlushUs, likewise
    std::atomic<int> spinning_{0};                    // 1 while a worker polls the queue
    alignas(64) std::atomic<uint64_t> spin_poll_{0};  // cycle_now() of the spinner's last poll
    std::atomic<int> sleeping_{0};                    // parked workers; changed under idle_lock_
    Spinlock idle_lock_;                              // guards idle_
    std::vector<int> idle_;                           // parked workers, the most recent last
    // One futex word per worker, on its own cache line: 0 = parked, 1 = woken.
    struct alignas(64) Parker {
        std::atomic<uint32_t> word{0};
    };
    std::unique_ptr<Parker[]> parkers_;
};

}  // namespace skyhive
