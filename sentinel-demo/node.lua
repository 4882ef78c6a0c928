-- The node of the Sentinel demo (sentinel-demo/run.sh): runs the sentinel_demo service; the
-- sentinel_watcher service script is on the service path.
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "sentinel_demo"
luaservice = "./services/lua/?.lua;./sentinel-demo/?.lua"
lua_path = "./lualib/?.lua;./lualib/?/init.lua"
loglevel = "info"
