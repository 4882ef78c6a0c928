-- lua-test.lua with a preload file run before every service script.
include "lua-test.lua"
preload = "../services/snlua/helper_preload.lua"
