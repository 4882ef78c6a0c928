-- The node that runs one Lua test service: TEST names the script under test/lua/ (ctest sets it).
-- Paths are relative to this file: TEST=test_call ./build/skyhive test/config/lua-test.lua
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "$TEST"
luaservice = "../../services/lua/?.lua;../lua/?.lua"
lua_path = "../../lualib/?.lua;../../lualib/?/init.lua;../lua/?.lua"
loglevel = "info"
