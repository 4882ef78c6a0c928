-- lua-test-game.lua with the game's modules on lua_path, the Lua tests of the game's own folder
-- (test/services/game/) and Redis from redis_lab, for tests that run the game's world.
include "lua-test-game.lua"
luaservice = luaservice .. ";../services/game/?.lua"
lua_path = lua_path .. ";../../services/game/?.lua"
redis = "127.0.0.1:$SKYHIVE_TEST_REDIS_PORT"
game_node = "mnode"
game_flush_interval = 1000
