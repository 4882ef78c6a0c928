#include "core/mailbox.h"

#include <cassert>
#include <mutex>
#include <thread>

namespace skyhive {

Mailbox::Mailbox() : ring_(new Message[kInitialCapacity]), capacity_(kInitialCapacity) {}

void Mailbox::grow() {
    size_t cap = capacity_ * 2;
    std::unique_ptr<Message[]> ring(new Message[cap]);
    for (size_t i = 0; i < count_; ++i)
        ring[i] = std::move(ring_[(head_ + i) % capacity_]);
    ring_ = std::move(ring);
    capacity_ = cap;
    head_ = 0;
}

Mailbox::Push Mailbox::push(Handle owner_handle, Message& msg) {
    std::lock_guard guard(lock_);
    if (handle_ != owner_handle || !owner_handle) return Push::closed;
    if (count_ == capacity_) grow();
    size_t tail = head_ + count_;
    if (tail >= capacity_) tail -= capacity_;
    ring_[tail] = std::move(msg);
    ++count_;
    size_.store(count_, std::memory_order_relaxed);
    if (scheduled_) return Push::queued;
    scheduled_ = true;
    return Push::schedule;
}

void Mailbox::open(Handle h) {
    std::lock_guard guard(lock_);
    handle_ = h;
    scheduled_ = true;
    retiring_.store(false, std::memory_order_relaxed);
    overload_threshold_ = 1024;
#ifndef NDEBUG
    drainer_ = std::thread::id();
#endif
}

Mailbox::Push Mailbox::request_retire(Handle owner_handle) {
    std::lock_guard guard(lock_);
    if (handle_ != owner_handle || !owner_handle) return Push::closed;
    retiring_.store(true, std::memory_order_release);
    if (scheduled_) return Push::queued;
    scheduled_ = true;
    return Push::schedule;
}

bool Mailbox::close() {
    std::lock_guard guard(lock_);
    bool was_open = bool(handle_);
    handle_ = Handle();
    return was_open;
}

size_t Mailbox::pop(Message* out, size_t max) {
    std::lock_guard guard(lock_);
    assert(owned_by_caller() && "Mailbox::pop: another thread is draining this mailbox");
    size_t n = count_ < max ? count_ : max;
    for (size_t i = 0; i < n; ++i) {
        out[i] = std::move(ring_[head_]);
        if (++head_ == capacity_) head_ = 0;
    }
    count_ -= n;
    size_.store(count_, std::memory_order_relaxed);
    return n;
}

bool Mailbox::finish() {
    std::lock_guard guard(lock_);
    assert(scheduled_ && "Mailbox::finish: only the thread holding the mailbox may release it");
    assert(owned_by_caller() && "Mailbox::finish: another thread is draining this mailbox");
#ifndef NDEBUG
    drainer_ = std::thread::id();  // the next holder may be another thread
#endif
    if (count_ > 0 || retiring_.load(std::memory_order_relaxed)) return true;
    scheduled_ = false;
    if (capacity_ > kShrinkAbove) {  // a flood is over: give its memory back
        ring_.reset(new Message[kInitialCapacity]);
        capacity_ = kInitialCapacity;
        head_ = 0;
    }
    return false;
}

bool Mailbox::owned_by_caller() {
    const std::thread::id me = std::this_thread::get_id();
    if (drainer_ == std::thread::id()) drainer_ = me;
    return drainer_ == me;
}

bool Mailbox::held() {
    std::lock_guard guard(lock_);
    return scheduled_;
}

size_t Mailbox::overload() {
    size_t n = size();
    if (n < 1024) {
        overload_threshold_ = 1024;
        return 0;
    }
    if (n < overload_threshold_) return 0;
    while (overload_threshold_ <= n)
        overload_threshold_ *= 2;
    return n;
}

}  // namespace skyhive
