-- lua-test.lua with a custom loader: every service (bootstrap included) starts through it.
include "lua-test.lua"
lualoader = "../services/snlua/helper_loader.lua"
