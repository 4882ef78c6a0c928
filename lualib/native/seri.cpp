#include "lualib/native/seri.h"

// The skyhive.seri module table; the functions are in seri_encode.cpp and seri_decode.cpp.

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
