#pragma once

#include <cstdint>

namespace skyhive::net {

// A socket id is a positive int32: the low kSlotBits bits index a slot in the SlotTable, the bits
// above are that slot's generation, bumped every time the slot is handed out again. A command that
// carries the id of a closed socket therefore never matches the socket that reuses its slot: the
// generations differ until the slot has been reused kMaxGeneration more times, and the table hands
// slots out round robin over at least 1,024 of them, so that takes ~16 million new sockets.
inline constexpr uint32_t kSlotBits = 17;
inline constexpr uint32_t kMaxSockets = 1u << kSlotBits;  // 131,072 concurrent sockets
inline constexpr uint32_t kMaxGeneration = (1u << (31 - kSlotBits)) - 1;

constexpr uint32_t slot_index(int32_t id) {
    return uint32_t(id) & (kMaxSockets - 1);
}
constexpr uint32_t slot_generation(int32_t id) {
    return uint32_t(id) >> kSlotBits;
}
// generation in [1, kMaxGeneration], so the id is never 0 and never negative.
constexpr int32_t make_socket_id(uint32_t generation, uint32_t index) {
    return int32_t((generation << kSlotBits) | index);
}

static_assert(make_socket_id(kMaxGeneration, kMaxSockets - 1) > 0);

}  // namespace skyhive::net
