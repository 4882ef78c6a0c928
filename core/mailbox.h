#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/message.h"
#include "core/spinlock.h"

namespace skyhive {

class Service;

// A service's queue of pending messages: a growable ring buffer under a spinlock.
//
// `scheduled` is the invariant that keeps a service on one worker at a time: it is true while the
// mailbox is in the global queue *or* a worker is draining it, and only the thread that flips it
// from false to true may put the mailbox in the global queue.
//
// Thread: push from any thread; pop/finish only from the worker that took the mailbox from the
// global queue.
class Mailbox {
  public:
    Mailbox();
    Mailbox(const Mailbox&) = delete;
    Mailbox& operator=(const Mailbox&) = delete;

    enum class Push { queued, schedule, closed };
    // Appends msg if the mailbox still belongs to `owner_handle`. Returns `schedule` when the
    // caller must put this mailbox in the global queue (it was idle; it is now marked scheduled),
    // `closed` (msg untouched) when the service is gone or the mailbox was reused for another.
    Push push(Handle owner_handle, Message& msg);

    // Binds the mailbox to a new service (held: scheduled, so nothing queues it until released).
    void open(Handle h);
    // Asks for the service to be retired after its current message. Returns `closed` if the
    // mailbox no longer belongs to `owner_handle`, `schedule` if the caller must queue the mailbox
    // so a worker sees the request, `queued` if a worker will see it anyway.
    Push request_retire(Handle owner_handle);
    bool retiring() const { return retiring_.load(std::memory_order_acquire); }
    // Refuses further pushes; returns true if it was open. Thread: the retiring worker.
    bool close();

    // Moves up to `max` messages into `out` (capacity >= max); returns how many.
    size_t pop(Message* out, size_t max);

    // Called by the worker after draining a batch, and by the launcher once init has run. Returns
    // true when the mailbox still has messages or a retire request (the caller queues it);
    // otherwise clears `scheduled`.
    bool finish();

    size_t size() const { return size_.load(std::memory_order_relaxed); }
    // True while some thread holds the mailbox (queued or being drained). For assertions of the
    // holder's contract. Thread: any.
    bool held();

    // Returns the length to warn about, or 0. Warns at 1024, then at each doubling; re-arms once
    // the queue falls under 1024 again. Thread: the draining worker.
    size_t overload();

    // Intrusive link for the global queue. Owned by GlobalQueue.
    Mailbox* next = nullptr;
    Service* owner = nullptr;

  private:
    void grow();
    static constexpr size_t kInitialCapacity = 16;
    static constexpr size_t kShrinkAbove = 4096;

    Spinlock lock_;
    std::unique_ptr<Message[]> ring_;
    size_t capacity_;
    size_t head_ = 0;  // next to pop
    size_t count_ = 0;
    bool scheduled_ = false;
    Handle handle_;                      // the service this mailbox belongs to; 0 when closed
    std::atomic<bool> retiring_{false};  // written under lock_
    std::atomic<size_t> size_{0};        // mirror of count_ for lock-free readers (stats, overload)
    size_t overload_threshold_ = 1024;
    // For debug-build assertions: the thread draining the mailbox since it was last released
    // (pop/finish from any other is a broken holder contract). Set by the first pop or finish,
    // cleared by finish and open (only when assertions are on). Guarded by lock_; the same layout
    // in every build.
    std::thread::id drainer_;
    bool owned_by_caller();  // claims the mailbox for the caller if nobody drains it
};

}  // namespace skyhive
