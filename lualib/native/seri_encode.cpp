// skynet.pack's encoder (seri.h describes the format and the entry points).

#include "lualib/native/seri.h"

#include <bit>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "lualib/native/seri_wire.h"

// Lua raises errors with longjmp, which skips C++ destructors (and confuses ThreadSanitizer's
// shadow stack for every frame it skips). So the packer reports failures by return value and only
// the entry points raise, after every inner frame has returned. Memory errors, which any Lua
// allocation may raise, find only trivially destructible frames: the packer keeps its output in a
// per-thread scratch buffer that such an error cannot leak.

namespace skyhive {
namespace {

using namespace seri_wire;

// A scratch buffer that grew past this is handed over (pack) or freed (packstring) rather than
// kept, so a thread holds at most this much between calls.
constexpr size_t kScratchKeep = 64 * 1024;

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
