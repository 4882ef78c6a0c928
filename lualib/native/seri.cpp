#include "lualib/native/seri.h"

#include <bit>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

// Lua raises errors with longjmp, which skips C++ destructors (and confuses ThreadSanitizer's
// shadow stack for every frame it skips). So the packer and the unpacker report failures by
// return value and only the entry points raise, after every inner frame has returned. Memory
// errors, which any Lua allocation may raise, find only trivially destructible frames: the packer
// keeps its output in a per-thread scratch buffer that such an error cannot leak.

namespace skyhive {
namespace {

constexpr uint8_t kFixStr = 0x80;    // 0x80..0x9f
constexpr uint8_t kFixArray = 0xa0;  // 0xa0..0xaf
constexpr uint8_t kFixHash = 0xb0;   // 0xb0..0xbf
constexpr uint8_t kNil = 0xc0;
constexpr uint8_t kFalse = 0xc1;
constexpr uint8_t kTrue = 0xc2;
constexpr uint8_t kInt8 = 0xc3;
constexpr uint8_t kInt16 = 0xc4;
constexpr uint8_t kInt32 = 0xc5;
constexpr uint8_t kInt64 = 0xc6;
constexpr uint8_t kFloat = 0xc7;
constexpr uint8_t kPointer = 0xc8;
constexpr uint8_t kStr8 = 0xc9;
constexpr uint8_t kStr16 = 0xca;
constexpr uint8_t kStr32 = 0xcb;
constexpr uint8_t kTable = 0xcc;
constexpr uint8_t kNegFixInt = 0xe0;  // 0xe0..0xff = -32..-1

constexpr size_t kFixStrMax = 0x1f;
constexpr uint64_t kFixCountMax = 0xf;
constexpr size_t kMaxVarint = 10;
// A scratch buffer that grew past this is handed over (pack) or freed (packstring) rather than
// kept, so a thread holds at most this much between calls.
constexpr size_t kScratchKeep = 64 * 1024;
constexpr size_t kErrorSize = 512;

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

size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

size_t put_varint(uint8_t* p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = uint8_t(v | 0x80);
        v >>= 7;
    }
    p[n++] = uint8_t(v);
    return n;
}

// malloc'd bytes growing geometrically, so an encode copies O(size) bytes overall.
struct ByteBuffer {
    char* data = nullptr;
    size_t size = 0;
    size_t cap = 0;

    ByteBuffer() = default;
    ByteBuffer(const ByteBuffer&) = delete;
    ByteBuffer& operator=(const ByteBuffer&) = delete;
    ~ByteBuffer() { std::free(data); }

    bool reserve_more(size_t n) { return cap - size >= n || grow(n); }
    bool grow(size_t n) {
        if (n > std::numeric_limits<size_t>::max() / 2 - size) return false;
        size_t want = cap < 256 ? 256 : cap * 2;
        if (want < size + n) want = size + n;
        char* p = static_cast<char*>(std::realloc(data, want));
        if (p == nullptr) return false;
        data = p;
        cap = want;
        return true;
    }
    void reset() {
        std::free(data);
        data = nullptr;
        size = cap = 0;
    }
};

// Thread: the calling thread's own buffer; no call runs Lua code while using it, so nothing can
// re-enter it.
ByteBuffer& scratch() {
    thread_local ByteBuffer buffer;
    buffer.size = 0;
    return buffer;
}

// Why a pack failed, and the keys leading from the argument to the culprit.
struct PackFailure {
    char what[96];
    int nsegments = 0;  // segments [0, nsegments) are valid, outermost first
    char segments[kSeriMaxDepth][40];
};

void describe_key(lua_State* L, int idx, char* out, size_t n) {
    switch (lua_type(L, idx)) {
        case LUA_TNUMBER:
            if (lua_isinteger(L, idx)) {
                std::snprintf(out, n, "[%lld]", static_cast<long long>(lua_tointeger(L, idx)));
            } else {
                std::snprintf(out, n, "[%.14g]", lua_tonumber(L, idx));
            }
            return;
        case LUA_TSTRING: {
            size_t len = 0;
            const char* s = lua_tolstring(L, idx, &len);
            bool ident = len > 0 && len < n - 1 && !(s[0] >= '0' && s[0] <= '9');
            for (size_t i = 0; ident && i < len; ++i) {
                char c = s[i];
                ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_';
            }
            if (ident) {
                std::snprintf(out, n, ".%.*s", int(len), s);
                return;
            }
            // Quoted, truncated, non-printable bytes shown as '?'.
            size_t o = 0;
            out[o++] = '[';
            out[o++] = '"';
            for (size_t i = 0; i < len && o + 6 < n; ++i) {
                unsigned char c = static_cast<unsigned char>(s[i]);
                out[o++] = (c >= 0x20 && c < 0x7f && c != '"') ? char(c) : '?';
            }
            if (o + 6 >= n) {
                out[o++] = '.';
                out[o++] = '.';
            }
            out[o++] = '"';
            out[o++] = ']';
            out[o] = '\0';
            return;
        }
        default:
            std::snprintf(out, n, "[%s]", luaL_typename(L, idx));
            return;
    }
}

// Thread: the thread running L. Reads the stack, runs no Lua code, never raises.
class Encoder {
  public:
    Encoder(lua_State* L, ByteBuffer& out, PackFailure& failure)
        : L_(L), out_(out), failure_(failure) {}

    bool value(int idx) {
        switch (lua_type(L_, idx)) {
            case LUA_TNIL:
                return put_byte(kNil);
            case LUA_TBOOLEAN:
                return put_byte(lua_toboolean(L_, idx) ? kTrue : kFalse);
            case LUA_TNUMBER:
                if (lua_isinteger(L_, idx)) return put_integer(lua_tointeger(L_, idx));
                return put_fixed(kFloat, std::bit_cast<uint64_t>(lua_tonumber(L_, idx)));
            case LUA_TSTRING: {
                size_t len = 0;
                const char* s = lua_tolstring(L_, idx, &len);
                return put_string(s, len);
            }
            case LUA_TLIGHTUSERDATA:
                return put_fixed(kPointer,
                                 uint64_t(reinterpret_cast<uintptr_t>(lua_touserdata(L_, idx))));
            case LUA_TTABLE:
                return table(idx);
            case LUA_TUSERDATA:
                return fail("cannot pack a full userdata value");
            default:
                return fail("cannot pack a %s value", luaL_typename(L_, idx));
        }
    }

  private:
    bool table(int idx) {
        if (depth_ == kSeriMaxDepth) return fail("table nested deeper than %d", kSeriMaxDepth);
        const void* self = lua_topointer(L_, idx);
        for (int i = 0; i < depth_; ++i) {
            if (open_[i] == self) return fail("cycle in table");
        }
        if (!lua_checkstack(L_, 2)) return fail("Lua stack exhausted");

        // The counts are known only after the walk. Reserve room for the header the table most
        // likely needs; a wrong guess costs one memmove of this table's body.
        uint64_t guess = lua_rawlen(L_, idx);
        size_t reserved = guess <= kFixCountMax ? 1 : 2 + varint_size(guess);
        if (!out_.reserve_more(reserved)) return out_of_memory();
        size_t head = out_.size;
        out_.size += reserved;

        open_[depth_++] = self;
        uint64_t narr = 0;
        uint64_t nhash = 0;
        bool in_array = true;
        const int k = lua_gettop(L_) + 1;  // where lua_next leaves each key, and its value above
        const int v = k + 1;
        lua_pushnil(L_);
        while (lua_next(L_, idx) != 0) {
            // lua_next walks the array part first, in order: its leading run of keys 1, 2, 3...
            // becomes the array part of the encoding; everything after goes to the hash part.
            if (in_array && lua_isinteger(L_, k) && lua_tointeger(L_, k) == lua_Integer(narr + 1)) {
                if (!value(v)) return failed_at(k);
                ++narr;
            } else {
                in_array = false;
                if (!value(k) || !value(v)) return failed_at(k);
                ++nhash;
            }
            lua_pop(L_, 1);
        }
        --depth_;
        return write_header(head, reserved, narr, nhash);
    }

    bool write_header(size_t head, size_t reserved, uint64_t narr, uint64_t nhash) {
        uint8_t header[1 + 2 * kMaxVarint];
        size_t len = 1;
        if (nhash == 0 && narr <= kFixCountMax) {
            header[0] = uint8_t(kFixArray | narr);
        } else if (narr == 0 && nhash <= kFixCountMax) {
            header[0] = uint8_t(kFixHash | nhash);
        } else {
            header[0] = kTable;
            len += put_varint(header + len, narr);
            len += put_varint(header + len, nhash);
        }
        if (len != reserved) {
            if (len > reserved && !out_.reserve_more(len - reserved)) return out_of_memory();
            size_t body = head + reserved;
            std::memmove(out_.data + head + len, out_.data + body, out_.size - body);
            out_.size = out_.size - reserved + len;
        }
        std::memcpy(out_.data + head, header, len);
        return true;
    }

    bool put_byte(uint8_t b) {
        if (!out_.reserve_more(1)) return out_of_memory();
        out_.data[out_.size++] = char(b);
        return true;
    }

    template <class U>
    bool put_fixed(uint8_t tag, U v) {
        if (!out_.reserve_more(1 + sizeof(U))) return out_of_memory();
        out_.data[out_.size] = char(tag);
        out_.size += 1 + store(out_.data + out_.size + 1, v);
        return true;
    }

    bool put_integer(lua_Integer v) {
        if (v >= -32 && v <= 127) return put_byte(uint8_t(v));  // -32..-1 become 0xe0..0xff
        if (v >= INT8_MIN && v <= INT8_MAX) return put_fixed(kInt8, uint8_t(v));
        if (v >= INT16_MIN && v <= INT16_MAX) return put_fixed(kInt16, uint16_t(v));
        if (v >= INT32_MIN && v <= INT32_MAX) return put_fixed(kInt32, uint32_t(v));
        return put_fixed(kInt64, uint64_t(v));
    }

    bool put_string(const char* s, size_t len) {
        if (len > UINT32_MAX) return fail("string of %zu bytes is too long", len);
        if (!out_.reserve_more(5 + len)) return out_of_memory();
        char* p = out_.data + out_.size;
        size_t head = 1;
        if (len <= kFixStrMax) {
            p[0] = char(kFixStr | len);
        } else if (len <= UINT8_MAX) {
            p[0] = char(kStr8);
            head += store(p + 1, uint8_t(len));
        } else if (len <= UINT16_MAX) {
            p[0] = char(kStr16);
            head += store(p + 1, uint16_t(len));
        } else {
            p[0] = char(kStr32);
            head += store(p + 1, uint32_t(len));
        }
        std::memcpy(p + head, s, len);
        out_.size += head + len;
        return true;
    }

    // Closes the current table after a failure inside it, noting the key that led there. The
    // innermost table notes first and fixes the path length.
    bool failed_at(int key) {
        int level = --depth_;
        if (failure_.nsegments == 0) failure_.nsegments = level + 1;
        describe_key(L_, key, failure_.segments[level], sizeof failure_.segments[level]);
        return false;
    }

    [[gnu::format(printf, 2, 3)]] bool fail(const char* fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(failure_.what, sizeof failure_.what, fmt, ap);
        va_end(ap);
        return false;
    }

    bool out_of_memory() {
        return fail("out of memory growing the buffer past %zu bytes", out_.size);
    }

    lua_State* L_;
    ByteBuffer& out_;
    PackFailure& failure_;
    int depth_ = 0;                      // tables currently open
    const void* open_[kSeriMaxDepth]{};  // the open tables, outermost first: a cycle revisits one
};

// Encodes stack values first..last into out. On failure restores the stack top and writes
// "pack: <what> (argument i, at <path>)" into error.
bool encode_values(lua_State* L, int first, int last, ByteBuffer& out, char* error) {
    PackFailure failure;
    Encoder encoder(L, out, failure);
    int top = lua_gettop(L);
    for (int i = first; i <= last; ++i) {
        if (encoder.value(i)) continue;
        lua_settop(L, top);
        char path[kErrorSize / 2];
        size_t used = 0;
        path[0] = '\0';
        for (int s = 0; s < failure.nsegments && used + 1 < sizeof path; ++s) {
            int n = std::snprintf(path + used, sizeof path - used, "%s", failure.segments[s]);
            used += size_t(n);
        }
        std::snprintf(error, kErrorSize, "pack: %s (argument %d%s%s)", failure.what, i - first + 1,
                      failure.nsegments > 0 ? ", at " : "", path);
        return false;
    }
    if (out.size > UINT32_MAX) {
        std::snprintf(error, kErrorSize, "pack: message of %zu bytes exceeds 4 GiB", out.size);
        return false;
    }
    return true;
}

// Moves the encoded bytes out of the scratch buffer into exactly sized malloc'd memory. Returns
// false when out of memory. A large scratch buffer is handed over instead of copied.
bool take_bytes(ByteBuffer& out, char** data) {
    if (out.size == 0) {
        *data = nullptr;
    } else if (out.cap > kScratchKeep) {
        char* shrunk = static_cast<char*>(std::realloc(out.data, out.size));
        *data = shrunk != nullptr ? shrunk : out.data;
        out.data = nullptr;
        out.size = out.cap = 0;
    } else {
        *data = static_cast<char*>(std::malloc(out.size));
        if (*data == nullptr) return false;
        std::memcpy(*data, out.data, out.size);
    }
    return true;
}

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

int seri_pack(lua_State* L) {
    ByteBuffer& out = scratch();
    char error[kErrorSize];
    if (!encode_values(L, 1, lua_gettop(L), out, error)) {
        if (out.cap > kScratchKeep) out.reset();
        return luaL_error(L, "%s", error);
    }
    char* data = nullptr;
    size_t size = out.size;
    if (!take_bytes(out, &data)) return luaL_error(L, "pack: out of memory (%d bytes)", int(size));
    lua_pushlightuserdata(L, data);
    lua_pushinteger(L, lua_Integer(size));
    return 2;
}

int seri_packstring(lua_State* L) {
    ByteBuffer& out = scratch();
    char error[kErrorSize];
    if (!encode_values(L, 1, lua_gettop(L), out, error)) {
        if (out.cap > kScratchKeep) out.reset();
        return luaL_error(L, "%s", error);
    }
    // May raise a memory error; the scratch buffer stays with the thread, nothing leaks.
    lua_pushlstring(L, out.data != nullptr ? out.data : "", out.size);
    if (out.cap > kScratchKeep) out.reset();
    return 1;
}

Result<Payload> seri_encode(lua_State* L, int first, int last) {
    ByteBuffer& out = scratch();
    char error[kErrorSize];
    if (!encode_values(L, first, last, out, error)) {
        if (out.cap > kScratchKeep) out.reset();
        return Error{error};
    }
    char* data = nullptr;
    size_t size = out.size;
    if (!take_bytes(out, &data)) {
        return Error{"pack: out of memory (" + std::to_string(size) + " bytes)"};
    }
    return Payload::adopt(data, uint32_t(size));
}

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

int seri_trash(lua_State* L) {
    switch (lua_type(L, 1)) {
        case LUA_TLIGHTUSERDATA:
            std::free(lua_touserdata(L, 1));
            return 0;
        case LUA_TNONE:
        case LUA_TNIL:
        case LUA_TSTRING:
            return 0;
        default:
            return luaL_typeerror(L, 1, "lightuserdata or string");
    }
}

}  // namespace skyhive

extern "C" int luaopen_skyhive_seri(lua_State* L) {
    static const luaL_Reg functions[] = {
        {"pack", skyhive::seri_pack},
        {"packstring", skyhive::seri_packstring},
        {"unpack", skyhive::seri_unpack},
        {"trash", skyhive::seri_trash},
        {nullptr, nullptr},
    };
    luaL_newlib(L, functions);
    return 1;
}
