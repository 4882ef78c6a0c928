#include "services/gate/lua_args.h"

#include <lua.hpp>

#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "lualib/native/seri.h"

namespace skyhive {

namespace {

Error outside(int arg, const std::string* field, const std::string& what) {
    std::string where = "unpack: argument " + std::to_string(arg);
    if (field) where += ", field " + *field;
    return Error{where + ": " + what};
}

// The plain value at stack index idx.
Result<LuaValue> plain(lua_State* L, int idx, int arg, const std::string* field) {
    switch (lua_type(L, idx)) {
        case LUA_TNIL:
            return LuaValue{};
        case LUA_TBOOLEAN:
            return LuaValue{lua_toboolean(L, idx) != 0};
        case LUA_TNUMBER: {
            if (lua_isinteger(L, idx)) return LuaValue{int64_t(lua_tointeger(L, idx))};
            lua_Integer i = 0;
            if (!lua_numbertointeger(lua_tonumber(L, idx), &i) ||
                lua_Number(i) != lua_tonumber(L, idx))
                return outside(arg, field, "a float without an integer value");
            return LuaValue{int64_t(i)};
        }
        case LUA_TSTRING: {
            size_t len = 0;
            const char* s = lua_tolstring(L, idx, &len);
            return LuaValue{std::string(s, len)};
        }
        case LUA_TTABLE:
            return outside(arg, field, "a table inside a table (only flat tables are taken)");
        default:
            return outside(arg, field,
                           std::string("a ") + lua_typename(L, lua_type(L, idx)) +
                               " (only nil, booleans, integers, strings and flat tables are "
                               "taken)");
    }
}

Result<LuaArg> argument(lua_State* L, int idx, int arg) {
    if (!lua_istable(L, idx)) {
        auto v = plain(L, idx, arg, nullptr);
        if (!v) return v.error();
        return LuaArg{std::move(*v), false, {}};
    }
    LuaArg t;
    t.is_table = true;
    lua_pushnil(L);
    while (lua_next(L, idx)) {  // key, value
        if (lua_type(L, -2) != LUA_TSTRING) {
            Error e = outside(arg, nullptr,
                              std::string("a table key that is a ") + luaL_typename(L, -2) +
                                  " (only string keys are taken)");
            lua_pop(L, 2);
            return e;
        }
        size_t len = 0;
        const char* k = lua_tolstring(L, -2, &len);
        std::string key(k, len);
        auto v = plain(L, -1, arg, &key);
        lua_pop(L, 1);
        if (!v) {
            lua_pop(L, 1);
            return v.error();
        }
        t.fields[std::move(key)] = std::move(*v);
    }
    return t;
}

}  // namespace

LuaCodec::LuaCodec() : L_(luaL_newstate()) {
    if (!L_) {
        std::fputs("LuaCodec: out of memory creating a Lua state\n", stderr);
        std::abort();
    }
}

LuaCodec::~LuaCodec() {
    lua_close(L_);
}

Result<std::vector<LuaArg>> LuaCodec::unpack(std::string_view bytes) {
    const int base = lua_gettop(L_);
    auto count = seri_decode(L_, bytes.data(), bytes.size());
    if (!count) return count.error();
    std::vector<LuaArg> args;
    args.reserve(size_t(*count));
    for (int i = 1; i <= *count; ++i) {
        auto a = argument(L_, base + i, i);
        if (!a) {
            lua_settop(L_, base);
            return a.error();
        }
        args.push_back(std::move(*a));
    }
    lua_settop(L_, base);
    return args;
}

LuaPacker::LuaPacker(LuaCodec& codec) : L_(codec.L_), base_(lua_gettop(codec.L_)) {}

LuaPacker::~LuaPacker() {
    lua_settop(L_, base_);
}

void LuaPacker::pushed() {
    while (!open_.empty()) {
        size_t& left = open_.back();
        --left;
        if (left % 2 == 1) return;  // a key: its value comes next
        assert(!lua_isnil(L_, -2) && "LuaPacker: a table key must not be nil");
        lua_rawset(L_, -3);
        if (left > 0) return;
        open_.pop_back();  // complete: the table is now one value of what holds it
    }
}

LuaPacker& LuaPacker::nil() {
    luaL_checkstack(L_, 3, "LuaPacker");
    lua_pushnil(L_);
    pushed();
    return *this;
}

LuaPacker& LuaPacker::integer(int64_t i) {
    luaL_checkstack(L_, 3, "LuaPacker");
    lua_pushinteger(L_, lua_Integer(i));
    pushed();
    return *this;
}

LuaPacker& LuaPacker::string(std::string_view s) {
    luaL_checkstack(L_, 3, "LuaPacker");
    lua_pushlstring(L_, s.data(), s.size());
    pushed();
    return *this;
}

LuaPacker& LuaPacker::boolean(bool b) {
    luaL_checkstack(L_, 3, "LuaPacker");
    lua_pushboolean(L_, b);
    pushed();
    return *this;
}

LuaPacker& LuaPacker::hash(size_t pairs) {
    luaL_checkstack(L_, 3, "LuaPacker");
    lua_createtable(L_, 0, int(pairs));
    if (pairs == 0)
        pushed();
    else
        open_.push_back(2 * pairs);
    return *this;
}

Payload LuaPacker::take() {
    assert(open_.empty() && "LuaPacker::take: a table is missing pairs");
    auto p = seri_encode(L_, base_ + 1, lua_gettop(L_));
    lua_settop(L_, base_);
    open_.clear();
    // Only nil, booleans, integers, strings and tables of them were pushed: all encodable.
    assert(p && "LuaPacker::take: seri_encode refused what the packer wrote");
    return p ? std::move(*p) : Payload();
}

}  // namespace skyhive
