#include "lualib/native/debug_core.h"

#include "core/memory_stats.h"

namespace {

int l_allocator(lua_State* L) {
    auto stats = skyhive::allocator_stats();
    if (!stats) {
        lua_pushnil(L);
        return 1;
    }
    const skyhive::AllocatorStats s = *stats;
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, lua_Integer(s.allocated));
    lua_setfield(L, -2, "allocated");
    lua_pushinteger(L, lua_Integer(s.active));
    lua_setfield(L, -2, "active");
    lua_pushinteger(L, lua_Integer(s.resident));
    lua_setfield(L, -2, "resident");
    return 1;
}

int l_rss(lua_State* L) {
    lua_pushinteger(L, lua_Integer(skyhive::process_rss()));
    return 1;
}

}  // namespace

extern "C" int luaopen_skynet_debugcore(lua_State* L) {
    static const luaL_Reg funcs[] = {
        {"allocator", l_allocator},
        {"rss", l_rss},
        {nullptr, nullptr},
    };
    luaL_newlib(L, funcs);
    return 1;
}
