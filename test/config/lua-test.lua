-- The node that runs one Lua test service: TEST names the script in a test folder (ctest sets it).
-- Run from the repository root: TEST=test_call ./build/skyhive test/config/lua-test.lua
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "$TEST"
luaservice = "./services/lua/?.lua;./test/lualib/skynet/?.lua;./test/lualib/redis/?.lua;./test/services/lua/?.lua;./test/services/snlua/?.lua"
lua_path = "./lualib/?.lua;./lualib/?/init.lua;./test/lualib/?.lua;./test/lualib/redis/?.lua"
loglevel = "info"
