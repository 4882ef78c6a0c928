-- lua-test.lua with a preload file run before every service script.
include "lua-test.lua"
preload = "./test/lua/helper_preload.lua"
