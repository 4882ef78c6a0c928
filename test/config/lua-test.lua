-- The node that runs one Lua test service: TEST names the script in a test folder (ctest sets it).
-- Paths are relative to this file: TEST=test_call ./build/skyhive test/config/lua-test.lua
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "$TEST"
luaservice = "../../services/lua/?.lua;../lualib/skynet/?.lua;../lualib/admin/?.lua;../lualib/http/?.lua;../lualib/redis/?.lua;../lualib/cluster/?.lua;../services/lua/?.lua;../services/snlua/?.lua"
lua_path = "../../lualib/?.lua;../../lualib/?/init.lua;../lualib/?.lua;../lualib/skynet/?.lua;../lualib/http/?.lua;../lualib/redis/?.lua;../lualib/cluster/?.lua"
loglevel = "info"
