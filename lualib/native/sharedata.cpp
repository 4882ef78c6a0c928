// skynet.sharedata.core's boxes and Lua functions (sharedata.h describes the module,
// sharedata_tree.h the tree; sharedata_build.cpp builds a version).

#include "lualib/native/sharedata.h"

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lualib/native/sharedata_tree.h"

namespace skyhive::sharedata {
namespace {

constexpr const char* kBoxMeta = "skynet.sharedata.box";

// Pushes x; a table as a light userdata pointer into v.
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
    Version* v = build(L, 1);
    if (!v) return lua_error(L);
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
}  // namespace skyhive::sharedata

extern "C" int luaopen_skynet_sharedata_core(lua_State* L) {
    using namespace skyhive::sharedata;
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
