-- The node's sentinel watcher service, a library service on every shipped config's service path:
-- the first redis.sentinel client of the node launches it with
-- skynet.uniqueservice("sentinel_watcher"); every client of every service then shares its
-- sentinel links, subscriptions and polls (lualib/skynet/db/redis/sentinel_watcher.lua).
require("skynet.db.redis.sentinel_watcher").serve()
