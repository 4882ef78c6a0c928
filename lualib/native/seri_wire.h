#pragma once

// The byte format of skynet.pack (tags, fixed-width little-endian fields, LEB128 varints), shared
// by the encoder (seri_encode.cpp) and the decoder (seri_decode.cpp); seri.h describes it. Internal
// to those two files and to the cluster codec (cluster_codec.cpp), which reads and writes an
// address in this format.

#include <lua.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace skyhive::seri_wire {

inline constexpr uint8_t kFixStr = 0x80;    // 0x80..0x9f
inline constexpr uint8_t kFixArray = 0xa0;  // 0xa0..0xaf
inline constexpr uint8_t kFixHash = 0xb0;   // 0xb0..0xbf
inline constexpr uint8_t kNil = 0xc0;
inline constexpr uint8_t kFalse = 0xc1;
inline constexpr uint8_t kTrue = 0xc2;
inline constexpr uint8_t kInt8 = 0xc3;
inline constexpr uint8_t kInt16 = 0xc4;
inline constexpr uint8_t kInt32 = 0xc5;
inline constexpr uint8_t kInt64 = 0xc6;
inline constexpr uint8_t kFloat = 0xc7;
inline constexpr uint8_t kPointer = 0xc8;
inline constexpr uint8_t kStr8 = 0xc9;
inline constexpr uint8_t kStr16 = 0xca;
inline constexpr uint8_t kStr32 = 0xcb;
inline constexpr uint8_t kTable = 0xcc;
inline constexpr uint8_t kNegFixInt = 0xe0;  // 0xe0..0xff = -32..-1

inline constexpr size_t kFixStrMax = 0x1f;
inline constexpr uint64_t kFixCountMax = 0xf;
inline constexpr size_t kMaxVarint = 10;
inline constexpr size_t kErrorSize = 512;

static_assert(sizeof(void*) <= sizeof(uint64_t));
static_assert(sizeof(lua_Integer) == 8 && sizeof(lua_Number) == 8,
              "the format assumes Lua's default 64-bit integers and doubles");

template <class U>
U to_little(U v) {
    static_assert(std::is_unsigned_v<U>);
    if constexpr (std::endian::native == std::endian::little || sizeof(U) == 1) {
        return v;
    } else if constexpr (sizeof(U) == 2) {
        return __builtin_bswap16(v);
    } else if constexpr (sizeof(U) == 4) {
        return __builtin_bswap32(v);
    } else {
        return __builtin_bswap64(v);
    }
}

template <class U>
size_t store(char* p, U v) {
    v = to_little(v);
    std::memcpy(p, &v, sizeof(U));
    return sizeof(U);
}

template <class U>
U load(const uint8_t* p) {
    U v;
    std::memcpy(&v, p, sizeof(U));
    return to_little(v);
}

inline size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

inline size_t put_varint(uint8_t* p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = uint8_t(v | 0x80);
        v >>= 7;
    }
    p[n++] = uint8_t(v);
    return n;
}

}  // namespace skyhive::seri_wire
