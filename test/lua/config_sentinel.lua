-- The node of the Sentinel client's Lua tests (test_sentinel_*.lua, run under with_sentinel):
-- config/lua-test.lua plus the sentinel_watcher service on the service path.
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "$TEST"
luaservice = "./services/lua/?.lua;./sentinel-demo/?.lua;./test/lua/?.lua"
lua_path = "./lualib/?.lua;./lualib/?/init.lua;./test/lua/?.lua"
loglevel = "info"
