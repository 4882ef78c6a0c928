-- config/sentinel.lua as a user runs it, with a test service in place of the game: the shipped
-- search paths plus test/lua/ (test_sentinel_one_watcher.lua runs on it, under with_sentinel).
include "../../config/sentinel.lua"
start = "$TEST"
luaservice = luaservice .. ";../lua/?.lua"
lua_path = lua_path .. ";../lua/?.lua"
