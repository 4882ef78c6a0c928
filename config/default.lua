-- The default node: what the README's first command runs. The game on 8001
-- (`telnet 127.0.0.1 8001`), the debug console on 127.0.0.1:8000, and a local redis-server the
-- node starts itself when no Redis is configured.
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"   -- the first service: module and its args
start = "game_main"             -- services/game/game_main.lua: main.lua's services, then the game
-- Relative paths are taken from this file's directory, so the node runs from any directory,
-- in the source tree as installed (PREFIX/share/skyhive/config/ beside lualib/ and services/).
luaservice = "../services/lua/?.lua;../services/game/?.lua"
lua_path = "../lualib/?.lua;../lualib/?/init.lua;../services/game/?.lua"
loglevel = "info"
-- logger = "/var/log/skyhive.log"  -- log file; stdout when unset
-- logpath = "../run/log"       -- where the console's logon writes <address>.log (also where a
                                -- relative logger goes); logon is refused while unset

-- The debug console (`telnet 127.0.0.1 8000`, then `help`). It refuses an address other than
-- loopback unless debug_console_allow_remote = true: whoever reaches it can read every service's
-- state and kill any service, the game's own included (it has no command that stops the node).
debug_console = "127.0.0.1:8000"
-- debug_console_allow_remote = true

-- The admin endpoint: Prometheus metrics (/metrics), a live dashboard in the browser
-- (http://127.0.0.1:8080/) and the console's commands over HTTP (docs/operations.md, "Admin
-- endpoint"). Loopback and read-only by default. Another machine may reach it only with
-- admin_allow_remote = true and an admin_token (16 characters or more) that every request
-- presents as "Authorization: Bearer <token>"; admin_write = true lets /console run commands
-- that change the node (kill, exit, gc...). admin = false turns it off.
admin = "127.0.0.1:8080"
-- admin_allow_remote = true
-- admin_token = "$SKYHIVE_ADMIN_TOKEN"
-- admin_write = true

-- The game: players connect here (0.0.0.0:8001 to let other machines in).
game = "127.0.0.1:8001"
game_node = "node1"             -- this node's name among the nodes sharing the Redis
game_start_gold = 100           -- gold of a new player
game_flush_interval = 100       -- centiseconds between saves of changed players

-- The cluster (README, "Cluster"): the nodes call each other's worlds to deliver a tell and the
-- news of gold given to a player online elsewhere, on loopback here. The cluster name is
-- game_node; the nodes find each other through the membership in Redis. Between machines, set a
-- shared cluster_secret (or SKYHIVE_CLUSTER_SECRET in the environment): without one only
-- loopback peers are accepted. Without cluster_listen (and cluster_nodes) the node runs alone
-- and the gold news goes by pub/sub.
cluster_listen = "127.0.0.1:9001"
-- cluster_secret = "..."

-- Where the game keeps its state. With none of redis / redis_sentinels / redis_cluster set,
-- the node starts redis-server itself on local_redis_port (0: any free port), with its data in
-- local_redis (beside config/; where the node is installed under a read-only prefix, point it
-- elsewhere), restarts it if it dies, and stops it when the node stops.
-- local_redis_fsync = "everysec" trades the fsync of every acknowledged write for speed
-- (README: Game and node configuration).
-- redis = "127.0.0.1:6379"
-- redis_cluster = "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"   (Redis Cluster instead)
-- redis_auth = "secret"
local_redis = "../run/redis"
local_redis_port = 6380
