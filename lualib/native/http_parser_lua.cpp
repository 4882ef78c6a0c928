#include "lualib/native/http_parser_lua.h"

#include <cstring>
#include <new>

#include "lualib/native/http_reader.h"

namespace {

using skyhive::http::Kind;
using skyhive::http::Limits;
using skyhive::http::Reader;

constexpr const char* kMeta = "skyhive.http.reader";

Reader* check(lua_State* L) {
    return static_cast<Reader*>(luaL_checkudata(L, 1, kMeta));
}

size_t limit_arg(lua_State* L, int idx, size_t dflt, const char* what) {
    if (lua_isnoneornil(L, idx)) return dflt;
    lua_Integer v = luaL_checkinteger(L, idx);
    if (v < 1) luaL_error(L, "http parser: %s must be a positive integer (got %d)", what, int(v));
    return size_t(v);
}

int l_new(lua_State* L) {
    const char* kinds[] = {"request", "response", nullptr};
    Kind kind = luaL_checkoption(L, 1, nullptr, kinds) == 0 ? Kind::request : Kind::response;
    Limits limits;
    limits.max_header = limit_arg(L, 2, limits.max_header, "max_header");
    limits.max_body = limit_arg(L, 3, limits.max_body, "max_body");
    void* mem = lua_newuserdatauv(L, sizeof(Reader), 0);
    new (mem) Reader(kind, limits);
    luaL_setmetatable(L, kMeta);
    return 1;
}

int l_gc(lua_State* L) {
    check(L)->~Reader();
    return 0;
}

void push_message(lua_State* L, const skyhive::http::Message& m) {
    lua_createtable(L, 0, 8);
    if (!m.method.empty()) {
        lua_pushlstring(L, m.method.data(), m.method.size());
        lua_setfield(L, -2, "method");
        lua_pushlstring(L, m.url.data(), m.url.size());
        lua_setfield(L, -2, "url");
    } else {
        lua_pushinteger(L, m.status);
        lua_setfield(L, -2, "status");
    }
    lua_pushfstring(L, "%d.%d", m.major, m.minor);
    lua_setfield(L, -2, "version");
    lua_createtable(L, 0, int(m.header.size()));
    for (const auto& [name, value] : m.header) {
        lua_pushlstring(L, value.data(), value.size());
        lua_setfield(L, -2, name.c_str());
    }
    lua_setfield(L, -2, "header");
    lua_pushlstring(L, m.body.data(), m.body.size());
    lua_setfield(L, -2, "body");
    lua_pushboolean(L, m.keep_alive);
    lua_setfield(L, -2, "keep_alive");
    lua_pushboolean(L, m.upgrade);
    lua_setfield(L, -2, "upgrade");
}

int l_next(lua_State* L) {
    Reader* r = check(L);
    size_t n = 0;
    const char* bytes = luaL_optlstring(L, 2, nullptr, &n);
    if (bytes && n > 0) r->feed({bytes, n});
    switch (r->next()) {
        case Reader::Status::message:
            push_message(L, r->message());
            return 1;
        case Reader::Status::more:
            lua_pushnil(L);
            return 1;
        case Reader::Status::failed:
            break;
    }
    lua_pushboolean(L, 0);
    lua_pushinteger(L, r->failure().status);
    lua_pushlstring(L, r->failure().text.data(), r->failure().text.size());
    return 3;
}

int l_eof(lua_State* L) {
    check(L)->feed_eof();
    return 0;
}

int l_no_body(lua_State* L) {
    check(L)->expect_no_body(true);
    return 0;
}

int l_pending(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check(L)->pending()));
    return 1;
}

int l_started(lua_State* L) {
    lua_pushboolean(L, check(L)->started());
    return 1;
}

}  // namespace

extern "C" int luaopen_skyhive_http_parser(lua_State* L) {
    const luaL_Reg methods[] = {{"next", l_next},       {"eof", l_eof},
                                {"no_body", l_no_body}, {"pending", l_pending},
                                {"started", l_started}, {nullptr, nullptr}};
    if (luaL_newmetatable(L, kMeta)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    const luaL_Reg funcs[] = {{"new", l_new}, {nullptr, nullptr}};
    luaL_newlib(L, funcs);
    return 1;
}
