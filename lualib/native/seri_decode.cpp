// skynet.unpack's decoder (seri.h describes the format and the entry points).

#include "lualib/native/seri.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "lualib/native/seri_wire.h"

// Lua raises errors with longjmp, which skips C++ destructors. So the unpacker reports failures
// by return value and only the entry points raise, after every inner frame has returned.

namespace skyhive {
namespace {

using namespace seri_wire;

// Thread: the thread running L. Never raises on malformed input (only Lua's own memory errors
// can): every step returns false after noting what went wrong, and the caller decides whether to
// raise. Errors thus cross no C++ frame but the entry point's.
//
// Every value is decoded against a limit: the end of the message minus the least number of bytes
// the values still owed to the enclosing tables need (one per array value, two per hash pair).
// Checking each count and length against that limit bounds the memory any forged message can make
// us allocate by its own size.
struct Decoder {
    lua_State* L;
    const uint8_t* begin;
    const uint8_t* p;
    const uint8_t* error_at = nullptr;
    const char* error = nullptr;
    char reserved_tag[24];  // holds the error text for an unknown tag
};

bool malformed(Decoder& d, const uint8_t* at, const char* what) {
    d.error_at = at;
    d.error = what;
    return false;
}

template <class U>
bool read_fixed(Decoder& d, const uint8_t* limit, const uint8_t* at, U* v) {
    if (size_t(limit - d.p) < sizeof(U)) return malformed(d, at, "truncated number");
    *v = load<U>(d.p);
    d.p += sizeof(U);
    return true;
}

bool read_varint(Decoder& d, const uint8_t* limit, const uint8_t* at, uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (d.p >= limit) return malformed(d, at, "truncated table header");
        uint8_t b = *d.p++;
        if (shift == 63 && b > 1) break;
        *v |= uint64_t(b & 0x7f) << shift;
        if ((b & 0x80) == 0) return true;
    }
    return malformed(d, at, "table count overflows 64 bits");
}

bool push_string(Decoder& d, const uint8_t* limit, const uint8_t* at, uint64_t len) {
    if (len > uint64_t(limit - d.p)) return malformed(d, at, "string length exceeds the message");
    lua_pushlstring(d.L, reinterpret_cast<const char*>(d.p), size_t(len));
    d.p += len;
    return true;
}

template <class U, class S>
bool push_fixed_integer(Decoder& d, const uint8_t* limit, const uint8_t* at) {
    U v;
    if (!read_fixed(d, limit, at, &v)) return false;
    lua_pushinteger(d.L, lua_Integer(S(v)));
    return true;
}

template <class U>
bool push_fixed_string(Decoder& d, const uint8_t* limit, const uint8_t* at) {
    U len;
    return read_fixed(d, limit, at, &len) && push_string(d, limit, at, len);
}

bool decode_value(Decoder& d, const uint8_t* limit, int depth);

bool decode_table(Decoder& d, const uint8_t* limit, const uint8_t* at, int depth, uint64_t narr,
                  uint64_t nhash) {
    static_assert(kSeriMaxDepth == 32, "the message below spells the limit out");
    if (depth >= kSeriMaxDepth) return malformed(d, at, "table nested deeper than 32");
    uint64_t avail = uint64_t(limit - d.p);
    if (narr > avail || nhash > (avail - narr) / 2 || narr > INT_MAX || nhash > INT_MAX) {
        return malformed(d, at, "table size exceeds the message");
    }
    lua_State* L = d.L;
    if (!lua_checkstack(L, 3)) return malformed(d, at, "Lua stack exhausted");
    lua_createtable(L, int(narr), int(nhash));
    for (uint64_t i = 1; i <= narr; ++i) {
        if (!decode_value(d, limit - (narr - i) - 2 * nhash, depth + 1)) return false;
        lua_rawseti(L, -2, lua_Integer(i));
    }
    for (uint64_t j = 1; j <= nhash; ++j) {
        const uint8_t* key_at = d.p;
        if (!decode_value(d, limit - 1 - 2 * (nhash - j), depth + 1)) return false;
        int type = lua_type(L, -1);
        if (type == LUA_TNIL) return malformed(d, key_at, "nil table key");
        if (type == LUA_TNUMBER && !lua_isinteger(L, -1) && std::isnan(lua_tonumber(L, -1))) {
            return malformed(d, key_at, "NaN table key");
        }
        if (!decode_value(d, limit - 2 * (nhash - j), depth + 1)) return false;
        lua_rawset(L, -3);
    }
    return true;
}

bool decode_value(Decoder& d, const uint8_t* limit, int depth) {
    lua_State* L = d.L;
    const uint8_t* at = d.p;
    if (at >= limit) return malformed(d, at, "truncated message");
    uint8_t tag = *d.p++;
    if (tag < kFixStr) {
        lua_pushinteger(L, tag);
        return true;
    }
    if (tag >= kNegFixInt) {
        lua_pushinteger(L, int8_t(tag));
        return true;
    }
    if (tag < kFixArray) return push_string(d, limit, at, tag & kFixStrMax);
    if (tag < kFixHash) return decode_table(d, limit, at, depth, tag & kFixCountMax, 0);
    if (tag < kNil) return decode_table(d, limit, at, depth, 0, tag & kFixCountMax);
    switch (tag) {
        case kNil:
            lua_pushnil(L);
            return true;
        case kFalse:
        case kTrue:
            lua_pushboolean(L, tag == kTrue);
            return true;
        case kInt8:
            return push_fixed_integer<uint8_t, int8_t>(d, limit, at);
        case kInt16:
            return push_fixed_integer<uint16_t, int16_t>(d, limit, at);
        case kInt32:
            return push_fixed_integer<uint32_t, int32_t>(d, limit, at);
        case kInt64:
            return push_fixed_integer<uint64_t, int64_t>(d, limit, at);
        case kFloat: {
            uint64_t bits;
            if (!read_fixed(d, limit, at, &bits)) return false;
            lua_pushnumber(L, std::bit_cast<double>(bits));
            return true;
        }
        case kPointer: {
            uint64_t address;
            if (!read_fixed(d, limit, at, &address)) return false;
            if (address > std::numeric_limits<uintptr_t>::max()) {
                return malformed(d, at, "light userdata address too wide");
            }
            lua_pushlightuserdata(L, reinterpret_cast<void*>(uintptr_t(address)));
            return true;
        }
        case kStr8:
            return push_fixed_string<uint8_t>(d, limit, at);
        case kStr16:
            return push_fixed_string<uint16_t>(d, limit, at);
        case kStr32:
            return push_fixed_string<uint32_t>(d, limit, at);
        case kTable: {
            uint64_t narr;
            uint64_t nhash;
            return read_varint(d, limit, at, &narr) && read_varint(d, limit, at, &nhash) &&
                   decode_table(d, limit, at, depth, narr, nhash);
        }
        default:
            std::snprintf(d.reserved_tag, sizeof d.reserved_tag, "reserved tag 0x%02x", tag);
            return malformed(d, at, d.reserved_tag);
    }
}

// Pushes every value in data[0, size) and returns the count; on malformed input restores the
// stack, writes "unpack: <what> at byte N" into error and returns -1.
int decode_values(lua_State* L, const void* data, size_t size, char* error) {
    const auto* begin = static_cast<const uint8_t*>(data);
    const uint8_t* end = begin + size;
    Decoder d{L, begin, begin, nullptr, nullptr, {}};
    int top = lua_gettop(L);
    int room = 0;  // stack slots known to be free
    while (d.p < end) {
        if (room == 0) {
            if (!lua_checkstack(L, 16)) {
                malformed(d, d.p, "too many values for the Lua stack");
                break;
            }
            room = 16;
        }
        if (!decode_value(d, end, 0)) break;
        --room;
    }
    if (d.error == nullptr) return lua_gettop(L) - top;
    lua_settop(L, top);
    std::snprintf(error, kErrorSize, "unpack: %s at byte %zu", d.error, size_t(d.error_at - begin));
    return -1;
}

}  // namespace

int seri_unpack_buffer(lua_State* L, const void* data, size_t size) {
    char error[kErrorSize];
    int count = decode_values(L, data, size, error);
    if (count < 0) return luaL_error(L, "%s", error);
    return count;
}

Result<int> seri_decode(lua_State* L, const void* data, size_t size) {
    char error[kErrorSize];
    int count = decode_values(L, data, size, error);
    if (count < 0) return Error{error};
    return count;
}

int seri_unpack(lua_State* L) {
    const void* data = nullptr;
    size_t size = 0;
    switch (lua_type(L, 1)) {
        case LUA_TNONE:
        case LUA_TNIL:
            return 0;
        case LUA_TSTRING:
            // The string stays at index 1, so it outlives the decode.
            data = lua_tolstring(L, 1, &size);
            break;
        case LUA_TLIGHTUSERDATA: {
            data = lua_touserdata(L, 1);
            lua_Integer n = luaL_checkinteger(L, 2);
            if (n < 0) return luaL_error(L, "unpack: negative size %I", n);
            if (data == nullptr && n > 0)
                return luaL_error(L, "unpack: NULL pointer of size %I", n);
            size = size_t(n);
            break;
        }
        case LUA_TUSERDATA: {
            // A full userdata knows its size, so a wrong one is caught rather than overread.
            data = lua_touserdata(L, 1);
            lua_Integer n = luaL_checkinteger(L, 2);
            lua_Integer block = lua_Integer(lua_rawlen(L, 1));
            if (n < 0 || n > block) {
                return luaL_error(L, "unpack: size %I outside the userdata's %I bytes", n, block);
            }
            size = size_t(n);
            break;
        }
        default:
            return luaL_typeerror(L, 1, "userdata or string");
    }
    return seri_unpack_buffer(L, data, size);
}

}  // namespace skyhive
