#include "core/global_queue.h"

#include <mutex>

namespace skyhive {

void GlobalQueue::push(Mailbox* mb) noexcept {
    mb->next = nullptr;
    std::lock_guard guard(lock_);
    if (tail_)
        tail_->next = mb;
    else
        head_ = mb;
    tail_ = mb;
    size_.fetch_add(1, std::memory_order_seq_cst);  // see Scheduler::notify
}

Mailbox* GlobalQueue::pop() noexcept {
    std::lock_guard guard(lock_);
    Mailbox* mb = head_;
    if (!mb) return nullptr;
    head_ = mb->next;
    if (!head_) tail_ = nullptr;
    mb->next = nullptr;
    size_.fetch_sub(1, std::memory_order_relaxed);
    return mb;
}

}  // namespace skyhive
