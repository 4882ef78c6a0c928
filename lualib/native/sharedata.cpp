#include "lualib/native/sharedata.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

// Lua raises errors with longjmp (liblua is C): C++ objects with destructors live on the heap,
// owned by the caller of a protected call (build), never in a frame that luaL_error can skip.

namespace {

constexpr int kMaxDepth = 64;
constexpr const char* kBoxMeta = "skynet.sharedata.box";

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

std::atomic<int64_t> live_versions{0};  // in the process, for tests and the debug console

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

void ref(Version* v) {
    v->refs.fetch_add(1, std::memory_order_relaxed);
}

// Drops a reference; freeing a version drops the one it holds on its successor (a loop, not
// recursion: a reader idle through many updates holds a long chain).
void unref(Version* v) {
    while (v && v->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        Version* next = v->next.load(std::memory_order_acquire);
        delete v;
        v = next;
    }
}

uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

uint64_t hash_bytes(std::string_view s) {
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
Key key_at(lua_State* L, int idx) {
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
long find_slot(const Version& v, const Table& t, const Key& k) {
    if (t.slots.empty() || k.tag == Tag::nil) return -1;
    size_t mask = t.slots.size() - 1;
    for (size_t i = k.hash() & mask;; i = (i + 1) & mask) {
        const Entry& e = t.slots[i];
        if (e.key.tag == Tag::nil) return -1;
        if (k.matches(v, e.key)) return long(i);
    }
}

const Value* find(const Version& v, const Table& t, const Key& k) {
    if (k.tag == Tag::integer && k.i >= 1 && uint64_t(k.i) <= t.array.size())
        return &t.array[size_t(k.i - 1)];
    long slot = find_slot(v, t, k);
    return slot < 0 ? nullptr : &t.slots[size_t(slot)].value;
}

void push_value(lua_State* L, const Version& v, const Value& x) {
    switch (x.tag) {
        case Tag::boolean:
            lua_pushboolean(L, x.b);
            break;
        case Tag::integer:
            lua_pushinteger(L, x.i);
            break;
        case Tag::number:
            lua_pushnumber(L, x.n);
            break;
        case Tag::string:
            lua_pushlstring(L, v.strings.data() + x.s.off, x.s.len);
            break;
        case Tag::table:
            lua_pushlightuserdata(L, const_cast<Table*>(x.t));
            break;
        default:
            lua_pushnil(L);
            break;
    }
}

// ---- building a version from a Lua table (runs under lua_pcall, see l_new) ----

struct Builder {
    std::unique_ptr<Version> version = std::make_unique<Version>();
    std::unordered_map<const void*, const Table*> built;  // a table shared twice is built once
    std::unordered_set<const void*> open;                 // tables being built (cycle check)
    std::vector<std::string> path;                        // keys down to what is being built
    std::string where;                                    // scratch for error messages

    const char* path_text() {
        where.clear();
        for (const auto& p : path) {
            if (!where.empty()) where += '.';
            where += p;
        }
        if (where.empty()) where = "the root";
        return where.c_str();
    }
};

void key_text(lua_State* L, int idx, std::string& out) {
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len = 0;
        const char* s = lua_tolstring(L, idx, &len);
        out.assign(s, len);
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_pushvalue(L, idx);  // tostring on a copy: lua_next must see the key unchanged
        out = lua_tostring(L, -1);
        lua_pop(L, 1);
    } else if (lua_type(L, idx) == LUA_TBOOLEAN) {
        out = lua_toboolean(L, idx) ? "true" : "false";
    } else {
        out = std::string("<") + luaL_typename(L, idx) + ">";
    }
}

const Table* build_table(lua_State* L, Builder& b, int idx, int depth);

// The value at stack index idx.
Value build_value(lua_State* L, Builder& b, int idx, int depth) {
    Value x;
    switch (lua_type(L, idx)) {
        case LUA_TBOOLEAN:
            x.tag = Tag::boolean;
            x.b = lua_toboolean(L, idx);
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, idx)) {
                x.tag = Tag::integer;
                x.i = lua_tointeger(L, idx);
            } else {
                x.tag = Tag::number;
                x.n = lua_tonumber(L, idx);
            }
            break;
        case LUA_TSTRING: {
            size_t len = 0;
            const char* s = lua_tolstring(L, idx, &len);
            if (len > UINT32_MAX || b.version->strings.size() > UINT32_MAX - len)
                luaL_error(L, "sharedata: more than 4 GB of strings at %s", b.path_text());
            x.tag = Tag::string;
            x.s.off = uint32_t(b.version->strings.size());
            x.s.len = uint32_t(len);
            b.version->strings.append(s, len);
            break;
        }
        case LUA_TTABLE:
            x.tag = Tag::table;
            x.t = build_table(L, b, idx, depth + 1);
            break;
        default:
            luaL_error(L,
                       "sharedata: the value at %s is a %s (only booleans, numbers, strings and "
                       "tables can be shared)",
                       b.path_text(), luaL_typename(L, idx));
    }
    return x;
}

const Table* build_table(lua_State* L, Builder& b, int idx, int depth) {
    idx = lua_absindex(L, idx);
    const void* id = lua_topointer(L, idx);
    if (auto it = b.built.find(id); it != b.built.end()) return it->second;
    if (depth > kMaxDepth)
        luaL_error(L, "sharedata: tables nested deeper than %d at %s", kMaxDepth, b.path_text());
    if (!b.open.insert(id).second)
        luaL_error(L, "sharedata: the table at %s contains itself", b.path_text());
    luaL_checkstack(L, 4, "sharedata: nesting");
    Table& t = b.version->tables.emplace_back();

    size_t n = 0;  // the array part: keys 1..n, all present
    while (lua_rawgeti(L, idx, lua_Integer(n + 1)) != LUA_TNIL) {
        lua_pop(L, 1);
        ++n;
    }
    lua_pop(L, 1);
    size_t others = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        Key k = key_at(L, -1);
        if (!(k.tag == Tag::integer && k.i >= 1 && uint64_t(k.i) <= n)) ++others;
    }
    t.array.resize(n);
    for (size_t i = 0; i < n; ++i) {
        lua_rawgeti(L, idx, lua_Integer(i + 1));
        b.path.push_back(std::to_string(i + 1));
        t.array[i] = build_value(L, b, -1, depth);
        b.path.pop_back();
        lua_pop(L, 1);
    }
    if (others > 0) {
        size_t cap = 4;
        while (cap < others * 2)
            cap *= 2;  // load factor at most 1/2
        t.slots.resize(cap);
        lua_pushnil(L);
        while (lua_next(L, idx)) {  // stack: key, value
            Key k = key_at(L, -2);
            if (k.tag == Tag::integer && k.i >= 1 && uint64_t(k.i) <= n) {
                lua_pop(L, 1);
                continue;
            }
            if (k.tag == Tag::nil)
                luaL_error(L,
                           "sharedata: a key in %s is a %s (keys are booleans, numbers or "
                           "strings)",
                           b.path_text(), luaL_typename(L, -2));
            b.path.emplace_back();
            key_text(L, -2, b.path.back());
            Entry e;
            e.value = build_value(L, b, -1, depth);
            e.key.tag = k.tag;
            switch (k.tag) {
                case Tag::boolean:
                    e.key.b = k.b;
                    break;
                case Tag::integer:
                    e.key.i = k.i;
                    break;
                case Tag::number:
                    e.key.n = k.n;
                    break;
                default: {
                    // The string's bytes go into the version (build_value of the key copies them).
                    e.key = build_value(L, b, -2, depth);
                    break;
                }
            }
            size_t mask = cap - 1;
            size_t i = k.hash() & mask;
            while (t.slots[i].key.tag != Tag::nil)
                i = (i + 1) & mask;
            t.slots[i] = e;
            b.path.pop_back();
            lua_pop(L, 1);
        }
    }
    b.open.erase(id);
    b.built.emplace(id, &t);
    return &t;
}

int build_protected(lua_State* L) {
    auto* b = static_cast<Builder*>(lua_touserdata(L, 2));
    build_table(L, *b, 1, 0);
    return 0;
}

// ---- boxes: a Lua reference to a version ----

struct Box {
    Version* v;
};

Box* check_box(lua_State* L, int idx) {
    auto* box = static_cast<Box*>(luaL_checkudata(L, idx, kBoxMeta));
    if (!box->v) luaL_argerror(L, idx, "sharedata box already closed");
    return box;
}

void push_box(lua_State* L, Version* v) {
    auto* box = static_cast<Box*>(lua_newuserdatauv(L, sizeof(Box), 0));
    box->v = v;
    luaL_setmetatable(L, kBoxMeta);
}

Version* check_pointer(lua_State* L, int idx) {
    luaL_checktype(L, idx, LUA_TLIGHTUSERDATA);
    return static_cast<Version*>(lua_touserdata(L, idx));
}

const Table* check_table(lua_State* L, int idx) {
    luaL_checktype(L, idx, LUA_TLIGHTUSERDATA);
    return static_cast<const Table*>(lua_touserdata(L, idx));
}

bool stale(const Box* box) {
    return box->v->next.load(std::memory_order_acquire) != nullptr;
}

int l_new(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    push_box(L, nullptr);  // first, so nothing can fail between building and owning
    auto* b = new Builder;
    lua_pushcfunction(L, build_protected);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, b);
    int status = lua_pcall(L, 2, 0, 0);
    Version* v = status == LUA_OK ? b->version.release() : nullptr;
    delete b;
    if (status != LUA_OK) return lua_error(L);
    static_cast<Box*>(lua_touserdata(L, 2))->v = v;
    return 1;
}

int l_share(lua_State* L) {
    Box* box = check_box(L, 1);
    ref(box->v);
    lua_pushlightuserdata(L, box->v);
    return 1;
}

int l_box(lua_State* L) {
    push_box(L, check_pointer(L, 1));
    return 1;
}

int l_release(lua_State* L) {
    unref(check_pointer(L, 1));
    return 0;
}

int l_close(lua_State* L) {
    auto* box = static_cast<Box*>(luaL_checkudata(L, 1, kBoxMeta));
    unref(box->v);
    box->v = nullptr;
    return 0;
}

int l_gc(lua_State* L) {
    return l_close(L);
}

int l_link(lua_State* L) {
    Box* old_box = check_box(L, 1);
    Box* new_box = check_box(L, 2);
    luaL_argcheck(L, old_box->v != new_box->v, 2, "a version cannot follow itself");
    ref(new_box->v);
    Version* expected = nullptr;
    if (!old_box->v->next.compare_exchange_strong(expected, new_box->v, std::memory_order_release,
                                                  std::memory_order_relaxed)) {
        unref(new_box->v);
        return luaL_error(L, "sharedata: this version was already updated");
    }
    return 0;
}

int l_root(lua_State* L) {
    lua_pushlightuserdata(L, const_cast<Table*>(check_box(L, 1)->v->root()));
    return 1;
}

int l_index(lua_State* L) {
    Box* box = check_box(L, 1);
    const Table* t = check_table(L, 2);
    if (stale(box)) {
        lua_pushnil(L);
        lua_pushboolean(L, 1);
        return 2;
    }
    const Value* x = find(*box->v, *t, key_at(L, 3));
    if (!x) return 0;
    push_value(L, *box->v, *x);
    return 1;
}

int l_nextkey(lua_State* L) {
    Box* box = check_box(L, 1);
    const Table* t = check_table(L, 2);
    if (stale(box)) {
        lua_pushnil(L);
        lua_pushnil(L);
        lua_pushboolean(L, 1);
        return 3;
    }
    const Version& v = *box->v;
    size_t slot = 0;  // where to look in the hash part
    if (lua_isnoneornil(L, 3)) {
        if (!t->array.empty()) {
            lua_pushinteger(L, 1);
            push_value(L, v, t->array[0]);
            return 2;
        }
    } else {
        Key k = key_at(L, 3);
        if (k.tag == Tag::integer && k.i >= 1 && uint64_t(k.i) <= t->array.size()) {
            if (uint64_t(k.i) < t->array.size()) {
                lua_pushinteger(L, k.i + 1);
                push_value(L, v, t->array[size_t(k.i)]);
                return 2;
            }
        } else {
            long at = find_slot(v, *t, k);
            if (at < 0) return luaL_error(L, "sharedata: invalid key to 'next'");
            slot = size_t(at) + 1;
        }
    }
    for (; slot < t->slots.size(); ++slot) {
        const Entry& e = t->slots[slot];
        if (e.key.tag == Tag::nil) continue;
        push_value(L, v, e.key);
        push_value(L, v, e.value);
        return 2;
    }
    return 0;
}

int l_len(lua_State* L) {
    Box* box = check_box(L, 1);
    const Table* t = check_table(L, 2);
    if (stale(box)) {
        lua_pushnil(L);
        lua_pushboolean(L, 1);
        return 2;
    }
    lua_pushinteger(L, lua_Integer(t->array.size()));
    return 1;
}

int l_advance(lua_State* L) {
    Box* box = check_box(L, 1);
    Version* cur = box->v;
    Version* newest = cur->next.load(std::memory_order_acquire);
    if (!newest) return 0;
    // cur holds a reference on its successor, and each successor on the next: the chain stays
    // alive while cur does.
    while (Version* n = newest->next.load(std::memory_order_acquire))
        newest = n;
    ref(newest);
    box->v = newest;
    unref(cur);
    lua_pushlightuserdata(L, const_cast<Table*>(newest->root()));
    return 1;
}

// The version owning t is kept alive by the caller (sharedata.lua copies from a live proxy).
void copy_table(lua_State* L, const Version& v, const Table& t, int depth) {
    luaL_checkstack(L, 3, "sharedata.copy");
    if (depth > kMaxDepth) luaL_error(L, "sharedata.copy: nested too deep");
    lua_createtable(L, int(t.array.size()), int(t.slots.size() / 2));
    auto push = [&](const Value& x) {
        if (x.tag == Tag::table)
            copy_table(L, v, *x.t, depth + 1);
        else
            push_value(L, v, x);
    };
    for (size_t i = 0; i < t.array.size(); ++i) {
        push(t.array[i]);
        lua_rawseti(L, -2, lua_Integer(i + 1));
    }
    for (const Entry& e : t.slots) {
        if (e.key.tag == Tag::nil) continue;
        push_value(L, v, e.key);
        push(e.value);
        lua_rawset(L, -3);
    }
}

int l_copy(lua_State* L) {
    Box* box = check_box(L, 1);
    copy_table(L, *box->v, *check_table(L, 2), 0);
    return 1;
}

int l_bytes(lua_State* L) {
    const Version& v = *check_box(L, 1)->v;
    size_t n = sizeof(Version) + v.strings.capacity();
    for (const Table& t : v.tables)
        n +=
            sizeof(Table) + t.array.capacity() * sizeof(Value) + t.slots.capacity() * sizeof(Entry);
    lua_pushinteger(L, lua_Integer(n));
    return 1;
}

int l_versions(lua_State* L) {
    lua_pushinteger(L, lua_Integer(live_versions.load(std::memory_order_relaxed)));
    return 1;
}

}  // namespace

extern "C" int luaopen_skynet_sharedata_core(lua_State* L) {
    if (luaL_newmetatable(L, kBoxMeta)) {
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg functions[] = {
        {"new", l_new},         {"share", l_share},       {"box", l_box},
        {"release", l_release}, {"close", l_close},       {"link", l_link},
        {"root", l_root},       {"index", l_index},       {"nextkey", l_nextkey},
        {"len", l_len},         {"copy", l_copy},         {"advance", l_advance},
        {"bytes", l_bytes},     {"versions", l_versions}, {nullptr, nullptr},
    };
    luaL_newlib(L, functions);
    return 1;
}
