-- lua-test.lua that also finds the game's services (services/game/), for tests of one of them.
include "lua-test.lua"
luaservice = luaservice .. ";../../services/game/?.lua"
