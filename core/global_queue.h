#pragma once

#include <atomic>
#include <cstddef>

#include "core/mailbox.h"
#include "core/spinlock.h"

namespace skyhive {

// FIFO of mailboxes that have messages, linked through Mailbox::next. A mailbox is in it at most
// once (Mailbox's `scheduled` invariant), so pushing never allocates.
// Thread: any.
class GlobalQueue {
  public:
    void push(Mailbox* mb) noexcept;
    Mailbox* pop() noexcept;  // nullptr when empty
    size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
    // Sequentially consistent read, for the sleep/wake handshake (Scheduler).
    size_t size_seq_cst() const noexcept { return size_.load(std::memory_order_seq_cst); }

  private:
    Spinlock lock_;
    Mailbox* head_ = nullptr;
    Mailbox* tail_ = nullptr;
    std::atomic<size_t> size_{0};
};

}  // namespace skyhive
