-- A game node whose Redis is watched by Sentinel: the node asks the sentinels where the master
-- is and follows it through failover. Point redis_sentinels at your sentinels (the sentinel
-- demo in sentinel-demo/ starts a master, two replicas and three sentinels). A second node on
-- the same topology: include this file and change harbor, game, game_node, debug_console and
-- cluster_listen as config/node2.lua does (without its redis line: the sentinels say where the
-- master is).
include "default.lua"
redis_sentinels = "127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381"
redis_master = "mymaster"
-- redis_auth = "secret"        -- the master's and replicas' password
