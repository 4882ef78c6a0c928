// skynet.sharedata.core's builder: a Version built from a Lua table (sharedata_tree.h describes
// the tree, sharedata.h the module).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lualib/native/sharedata_tree.h"

// Lua raises errors with longjmp (liblua is C): C++ objects with destructors live on the heap,
// owned by the caller of the protected call (build), never in a frame that luaL_error can skip.

namespace skyhive::sharedata {
namespace {

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
            // The key is stored as build_value stores a value (a string's bytes go into the
            // version); lua_next gives float keys with an integer value as integers, as key_at
            // reads them, so the stored key and its hash agree.
            e.key = build_value(L, b, -2, depth);
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

}  // namespace

Version* build(lua_State* L, int idx) {
    idx = lua_absindex(L, idx);
    auto* b = new Builder;
    lua_pushcfunction(L, build_protected);
    lua_pushvalue(L, idx);
    lua_pushlightuserdata(L, b);
    int status = lua_pcall(L, 2, 0, 0);
    Version* v = status == LUA_OK ? b->version.release() : nullptr;
    delete b;
    return v;
}

}  // namespace skyhive::sharedata
