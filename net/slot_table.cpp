#include "net/slot_table.h"

#include <cassert>

namespace skyhive::net {

const char* to_string(SlotState s) {
    switch (s) {
        case SlotState::free:
            return "free";
        case SlotState::reserved:
            return "reserved";
        case SlotState::connecting:
            return "connecting";
        case SlotState::open:
            return "open";
        case SlotState::closing:
            return "closing";
    }
    return "unknown";
}

const char* to_string(SocketKind k) {
    switch (k) {
        case SocketKind::none:
            return "none";
        case SocketKind::listener:
            return "listener";
        case SocketKind::tcp:
            return "tcp";
        case SocketKind::udp:
            return "udp";
        case SocketKind::stream:
            return "stream";
    }
    return "unknown";
}

SlotTable::SlotTable() {
    std::lock_guard g(mutex_);
    grow();
}

SlotTable::~SlotTable() {
    for (auto& p : pages_)
        delete[] p.load(std::memory_order_relaxed);
}

void SlotTable::grow() {
    uint32_t cap = capacity_.load(std::memory_order_relaxed);
    uint32_t target = cap == 0 ? kPageSize : cap * 2;
    for (uint32_t page = cap / kPageSize; page < target / kPageSize; ++page) {
        pages_[page].store(new Slot[kPageSize], std::memory_order_release);
    }
    capacity_.store(target, std::memory_order_release);
}

int32_t SlotTable::reserve() {
    std::lock_guard g(mutex_);
    uint32_t cap = capacity_.load(std::memory_order_relaxed);
    if (in_use_.load(std::memory_order_relaxed) >= cap / 2 && cap < kMaxSockets) {
        grow();
        cap = capacity_.load(std::memory_order_relaxed);
    }
    for (uint32_t tries = 0; tries < cap; ++tries) {
        uint32_t index = cursor_++ & (cap - 1);
        Slot& s = pages_[index / kPageSize].load(std::memory_order_relaxed)[index % kPageSize];
        // Only reserve() (under mutex_) leaves `free`, so this check cannot race with another
        // reserver; the acquire pairs with release() so the slot's reset is visible.
        if (s.state.load(std::memory_order_acquire) != SlotState::free) continue;
        s.generation = s.generation >= kMaxGeneration ? 1 : s.generation + 1;
        int32_t id = make_socket_id(s.generation, index);
        s.state.store(SlotState::reserved, std::memory_order_relaxed);
        s.id.store(id, std::memory_order_release);
        in_use_.fetch_add(1, std::memory_order_relaxed);
        return id;
    }
    return 0;
}

void SlotTable::release(Slot& s) {
    assert(s.id.load(std::memory_order_relaxed) == 0);
    in_use_.fetch_sub(1, std::memory_order_relaxed);
    s.state.store(SlotState::free, std::memory_order_release);
}

}  // namespace skyhive::net
