#pragma once

// The tree of skynet.sharedata.core (sharedata.h describes the module): a Version and its tables,
// values and keys, reference counting, hashing and lookup. Internal to sharedata.cpp (the boxes
// and the Lua functions) and sharedata_build.cpp (building a version from a Lua table).
//
// Thread: a version is written only while it is built, by the thread that calls new(), before any
// other thread can reach it. After that its tree never changes and any thread reads it without a
// lock; only its reference count and its link change, both atomic. ref is relaxed (the caller
// already holds a reference); unref is acq_rel, so the thread that frees a version sees every
// other holder done with it; link stores the successor with release and readers load it with
// acquire, so whoever sees the link sees the successor's tree.

#include <lua.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace skyhive::sharedata {

inline constexpr int kMaxDepth = 64;

enum class Tag : uint8_t { nil, boolean, integer, number, string, table };

struct Table;

struct Value {
    Tag tag = Tag::nil;
    union {
        bool b;
        lua_Integer i;
        lua_Number n;
        struct {
            uint32_t off, len;
        } s;
        const Table* t;
    };
    Value() : i(0) {}
};

struct Entry {
    Value key;  // Tag::nil: an empty slot
    Value value;
};

struct Table {
    std::vector<Value> array;  // keys 1..array.size(), none nil
    std::vector<Entry> slots;  // open addressing, linear probing; size 0 or a power of 2
};

inline std::atomic<int64_t> live_versions{0};  // in the process, for tests and the debug console

struct Version {
    Version() { live_versions.fetch_add(1, std::memory_order_relaxed); }
    ~Version() { live_versions.fetch_sub(1, std::memory_order_relaxed); }
    Version(const Version&) = delete;
    Version& operator=(const Version&) = delete;

    std::atomic<int32_t> refs{1};
    std::atomic<Version*> next{nullptr};  // set once, by link; holds a reference on it
    std::string strings;                  // every string, back to back
    std::deque<Table> tables;             // tables[0] is the root; a deque keeps them in place

    const Table* root() const { return &tables.front(); }
    std::string_view str(const Value& v) const { return {strings.data() + v.s.off, v.s.len}; }
};

inline void ref(Version* v) {
    v->refs.fetch_add(1, std::memory_order_relaxed);
}

// Drops a reference; freeing a version drops the one it holds on its successor (a loop, not
// recursion: a reader idle through many updates holds a long chain).
inline void unref(Version* v) {
    while (v && v->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        Version* next = v->next.load(std::memory_order_acquire);
        delete v;
        v = next;
    }
}

inline uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

inline uint64_t hash_bytes(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s)
        h = (h ^ c) * 0x100000001b3ULL;
    return h;
}

// A key as looked up: the same tags as Value, the string by view.
struct Key {
    Tag tag = Tag::nil;
    bool b = false;
    lua_Integer i = 0;
    lua_Number n = 0;
    std::string_view s;

    uint64_t hash() const {
        switch (tag) {
            case Tag::boolean:
                return b ? 1 : 2;
            case Tag::integer:
                return mix(uint64_t(i));
            case Tag::number: {
                uint64_t bits;
                std::memcpy(&bits, &n, sizeof bits);
                return mix(bits ^ 0x9e3779b97f4a7c15ULL);
            }
            case Tag::string:
                return hash_bytes(s);
            default:
                return 0;
        }
    }
    bool matches(const Version& v, const Value& k) const {
        if (k.tag != tag) return false;
        switch (tag) {
            case Tag::boolean:
                return k.b == b;
            case Tag::integer:
                return k.i == i;
            case Tag::number:
                return k.n == n;
            case Tag::string:
                return v.str(k) == s;
            default:
                return false;
        }
    }
};

// The key at stack index idx; Tag::nil when no shared table can hold it.
inline Key key_at(lua_State* L, int idx) {
    Key k;
    switch (lua_type(L, idx)) {
        case LUA_TBOOLEAN:
            k.tag = Tag::boolean;
            k.b = lua_toboolean(L, idx);
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, idx)) {
                k.tag = Tag::integer;
                k.i = lua_tointeger(L, idx);
            } else {
                lua_Number n = lua_tonumber(L, idx);
                lua_Integer i;
                if (lua_numbertointeger(n, &i) && lua_Number(i) == n) {  // 2.0 is the key 2
                    k.tag = Tag::integer;
                    k.i = i;
                } else {
                    k.tag = Tag::number;
                    k.n = n;
                }
            }
            break;
        case LUA_TSTRING: {
            size_t len = 0;
            const char* s = lua_tolstring(L, idx, &len);
            k.tag = Tag::string;
            k.s = {s, len};
            break;
        }
        default:
            break;
    }
    return k;
}

// The slot holding k, or -1.
inline long find_slot(const Version& v, const Table& t, const Key& k) {
    if (t.slots.empty() || k.tag == Tag::nil) return -1;
    size_t mask = t.slots.size() - 1;
    for (size_t i = k.hash() & mask;; i = (i + 1) & mask) {
        const Entry& e = t.slots[i];
        if (e.key.tag == Tag::nil) return -1;
        if (k.matches(v, e.key)) return long(i);
    }
}

inline const Value* find(const Version& v, const Table& t, const Key& k) {
    if (k.tag == Tag::integer && k.i >= 1 && uint64_t(k.i) <= t.array.size())
        return &t.array[size_t(k.i - 1)];
    long slot = find_slot(v, t, k);
    return slot < 0 ? nullptr : &t.slots[size_t(slot)].value;
}

// Builds a version from the Lua table at stack index idx, under a protected call (defined in
// sharedata_build.cpp). Returns the version, holding one reference for the caller; or nullptr with
// the error message pushed. Leaves the stack as it was otherwise.
Version* build(lua_State* L, int idx);

}  // namespace skyhive::sharedata
