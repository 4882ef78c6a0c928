#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "net/slot.h"
#include "net/socket_id.h"

namespace skyhive::net {

// Every socket slot of one SocketServer, and the ids that name them (see socket_id.h).
//
// Slots are allocated in pages of 1,024 as the number of sockets in use grows, never freed before
// the table: memory follows the high-water mark, and a pointer to a slot stays valid. New ids are
// handed out round robin over the current capacity, which doubles whenever more than half of it is
// in use, so a freed slot is not reused before every other free slot has been.
//
// Identity type. Thread: as stated per method.
class SlotTable {
  public:
    static constexpr uint32_t kPageSize = 1024;

    SlotTable();
    ~SlotTable();
    SlotTable(const SlotTable&) = delete;
    SlotTable& operator=(const SlotTable&) = delete;

    // Thread: any. Takes a free slot: returns its new id with the slot in state `reserved`, or 0
    // when all kMaxSockets slots are in use.
    int32_t reserve();

    // Thread: any. The slot `id` maps to, or null when no id for it was ever issued (its page does
    // not exist). The slot may belong to another socket by now: compare slot->id.
    Slot* slot(int32_t id) const {
        if (id <= 0) return nullptr;
        uint32_t index = slot_index(id);
        Slot* page = pages_[index / kPageSize].load(std::memory_order_acquire);
        return page ? &page[index % kPageSize] : nullptr;
    }

    // Thread: socket thread. The slot if `id` names a socket that exists now.
    Slot* live(int32_t id) const {
        Slot* s = slot(id);
        return s && s->id.load(std::memory_order_relaxed) == id &&
                       s->state.load(std::memory_order_relaxed) != SlotState::free
                   ? s
                   : nullptr;
    }

    // Thread: socket thread. Returns a slot to the pool. The caller has already cleared its id and
    // socket fields; this publishes it as free.
    void release(Slot& s);

    // Thread: socket thread (or any thread once it is joined). Calls fn(slot) for every slot not
    // free.
    template <class F>
    void for_each_used(F&& fn) {
        uint32_t cap = capacity_.load(std::memory_order_acquire);
        for (uint32_t i = 0; i < cap; ++i) {
            Slot& s = pages_[i / kPageSize].load(std::memory_order_acquire)[i % kPageSize];
            if (s.state.load(std::memory_order_acquire) != SlotState::free) fn(s);
        }
    }

    // Thread: any. Slots usable without growing, and slots not free.
    uint32_t capacity() const { return capacity_.load(std::memory_order_relaxed); }
    uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

  private:
    void grow();  // mutex held

    std::mutex mutex_;
    uint32_t cursor_ = 0;  // mutex_
    std::atomic<uint32_t> capacity_{0};
    std::atomic<uint32_t> in_use_{0};
    std::atomic<Slot*> pages_[kMaxSockets / kPageSize] = {};
};

}  // namespace skyhive::net
