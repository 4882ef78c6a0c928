#pragma once

// The growth rule of the RESP encoders' malloc'd buffers (CommandBuffer, ReplyWriter).
// Thread: whichever thread owns the buffer.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace skyhive::redis {

// Makes room for `need` bytes in the buffer data[0, cap): an empty buffer starts at `first`
// bytes, a full one doubles, and either grows to `need` when that is more; never past
// UINT32_MAX. Returns false, leaving data and cap as they were, when need is over UINT32_MAX or
// realloc fails.
inline bool grow_buffer(char*& data, size_t& cap, size_t need, size_t first) {
    if (need <= cap) return true;
    if (need > UINT32_MAX) return false;
    size_t want = cap == 0 ? first : cap * 2;
    if (want < need) want = need;
    if (want > UINT32_MAX) want = UINT32_MAX;
    char* p = static_cast<char*>(std::realloc(data, want));
    if (!p) return false;
    data = p;
    cap = want;
    return true;
}

}  // namespace skyhive::redis
