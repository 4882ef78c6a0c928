-- A second game node beside the default one, sharing its Redis: players on either node see
-- each other (who, say, tell) and trade gold. Start the default node first (it starts the Redis):
--   ./build/skyhive config/default.lua      # node1: game on 8001, Redis on 6380
--   ./build/skyhive config/node2.lua        # node2: game on 8002, debug console on 8010
include "default.lua"
harbor = 2
game = "127.0.0.1:8002"
game_node = "node2"
cluster_listen = "127.0.0.1:9002"   -- node2 in the cluster (node1 listens on 9001)
debug_console = "127.0.0.1:8010"
admin = "127.0.0.1:8082"        -- node2's dashboard: http://127.0.0.1:8082/
redis = "127.0.0.1:6380"        -- the redis-server node1 started (local_redis_port there)
