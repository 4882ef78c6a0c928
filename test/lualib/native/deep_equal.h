#pragma once

#include <lua.hpp>

#include <bit>
#include <cstdint>

namespace skyhive::test {

// Structural equality of two Lua values, for checking that unpack(pack(x)) gives x back.
// Integers and floats never equal each other; floats compare by bits (NaN equals itself, -0.0
// differs from 0.0); tables compare by raw contents, metatables ignored; table keys that are
// themselves tables are matched by structure. Uses a few stack slots, leaves the stack as it was.
// Thread: the thread running L.
inline bool deep_equal(lua_State* L, int a, int b, int depth = 0);

namespace detail {

// Finds in table `b` an entry whose table key is not yet in `used` and whose key and value equal
// those at `k` and `v`, and marks it used. Deep equality is an equivalence, so taking the first
// match never spoils a later one.
inline bool match_table_key(lua_State* L, int b, int used, int k, int v, int depth) {
    lua_pushnil(L);
    while (lua_next(L, b) != 0) {
        int bk = lua_gettop(L) - 1;
        int bv = bk + 1;
        if (lua_type(L, bk) == LUA_TTABLE) {
            lua_pushvalue(L, bk);
            bool taken = lua_rawget(L, used) != LUA_TNIL;
            lua_pop(L, 1);
            if (!taken && deep_equal(L, k, bk, depth + 1) && deep_equal(L, v, bv, depth + 1)) {
                lua_pushvalue(L, bk);
                lua_pushboolean(L, 1);
                lua_rawset(L, used);
                lua_pop(L, 2);
                return true;
            }
        }
        lua_pop(L, 1);
    }
    return false;
}

inline bool tables_equal(lua_State* L, int a, int b, int depth) {
    if (depth > 100) return false;
    if (!lua_checkstack(L, 8)) return false;
    int top = lua_gettop(L);
    size_t count_b = 0;
    lua_pushnil(L);
    while (lua_next(L, b) != 0) {
        ++count_b;
        lua_pop(L, 1);
    }
    lua_newtable(L);
    int used = lua_gettop(L);
    size_t count_a = 0;
    bool equal = true;
    lua_pushnil(L);
    while (equal && lua_next(L, a) != 0) {
        ++count_a;
        int k = lua_gettop(L) - 1;
        int v = k + 1;
        if (lua_type(L, k) == LUA_TTABLE) {
            equal = match_table_key(L, b, used, k, v, depth);
        } else {
            lua_pushvalue(L, k);
            equal = lua_rawget(L, b) != LUA_TNIL && deep_equal(L, v, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return equal && count_a == count_b;
}

}  // namespace detail

inline bool deep_equal(lua_State* L, int a, int b, int depth) {
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    int type = lua_type(L, a);
    if (type != lua_type(L, b)) return false;
    switch (type) {
        case LUA_TNUMBER:
            if (lua_isinteger(L, a) != lua_isinteger(L, b)) return false;
            if (lua_isinteger(L, a)) return lua_tointeger(L, a) == lua_tointeger(L, b);
            return std::bit_cast<uint64_t>(lua_tonumber(L, a)) ==
                   std::bit_cast<uint64_t>(lua_tonumber(L, b));
        case LUA_TTABLE:
            return detail::tables_equal(L, a, b, depth);
        default:
            return lua_rawequal(L, a, b) != 0;
    }
}

}  // namespace skyhive::test
