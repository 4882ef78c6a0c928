-- Node a of the two-node cluster demonstration (README, "Cluster"): run config/cluster-b.lua
-- (which includes this file) beside it. Both list both nodes statically; each serves "@demo" and calls the other every
-- second (services/lua/cluster_demo.lua). Without cluster_nodes (and with a Redis configured)
-- the nodes would find each other through the membership in Redis instead.
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "cluster_demo"
luaservice = "../services/lua/?.lua"
lua_path = "../lualib/?.lua;../lualib/?/init.lua"
cluster_name = "a"
cluster_listen = "127.0.0.1:9101"
cluster_nodes = "a=127.0.0.1:9101, b=127.0.0.1:9102"
-- cluster_secret = "..."   -- required as soon as a peer is not on loopback (or
--                          -- SKYHIVE_CLUSTER_SECRET in the environment)
debug_console = "127.0.0.1:9111"
admin = "127.0.0.1:8083"   -- node a's dashboard: http://127.0.0.1:8083/
