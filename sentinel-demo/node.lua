-- The node of the Sentinel demo (sentinel-demo/run.sh): runs the sentinel_demo service. The
-- node's sentinel_watcher service comes from services/lua/, as on every node.
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "sentinel_demo"
luaservice = "../services/lua/?.lua;./?.lua"  -- relative to this file's directory
lua_path = "../lualib/?.lua;../lualib/?/init.lua"
loglevel = "info"
