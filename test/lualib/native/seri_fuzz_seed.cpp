// Writes a few valid pack encodings into a directory (created if missing), as the seed corpus of
// seri_fuzz.

#include <cstdio>
#include <string>
#include <vector>

#include "fuzz_seed.h"

#include "lualib/native/seri.h"

int main(int argc, char** argv) {
    if (!skyhive::fuzz::seed_args_ok(argc, argv)) return 2;
    static const char* const kSeeds[] = {
        "return 'set', 'player:42', {gold = 100, name = 'x', items = {1, 2, 3}}",
        "return nil, true, false, 0, -1, 127, -32, 128, -129, 40000, -70000, 1 << 40",
        "return math.mininteger, math.maxinteger, 0.5, -0.0, 1/0, -1/0, 0/0",
        "return '', 'short', ('s'):rep(40), ('m'):rep(300), 'a\\0b'",
        "return {1, nil, 3, x = {y = {z = {}}}, [1.5] = true, [false] = 'f'}",
        "local t = {} for i = 1, 20 do t[i] = i; t['k' .. i] = {i} end return t",
        "return {[{1}] = {2}, {{{{}}}}}",
    };
    std::vector<std::string> seeds;
    lua_State* L = luaL_newstate();
    luaL_openlibs(L);
    int n = 0;
    for (const char* seed : kSeeds) {
        if (luaL_dostring(L, seed) != LUA_OK) {
            std::fprintf(stderr, "seed %d: %s\n", n, lua_tostring(L, -1));
            return 1;
        }
        skyhive::Result<skyhive::Payload> bytes = skyhive::seri_encode(L, 1, lua_gettop(L));
        lua_settop(L, 0);
        if (!bytes.ok()) {
            std::fprintf(stderr, "seed %d: %s\n", n, bytes.error().message.c_str());
            return 1;
        }
        seeds.emplace_back(bytes->data(), bytes->size());
        ++n;
    }
    lua_close(L);
    return skyhive::fuzz::write_seeds(argv[1], seeds);
}
