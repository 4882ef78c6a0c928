-- config/sentinel.lua as a user runs it, with a test service in place of the game: the shipped
-- search paths plus test/lualib/ (test_sentinel_one_watcher.lua runs on it, under with_sentinel).
include "../../config/sentinel.lua"
start = "$TEST"
luaservice = luaservice .. ";../lualib/redis/?.lua"
lua_path = lua_path .. ";../lualib/?.lua;../lualib/redis/?.lua"
