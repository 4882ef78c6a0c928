-- The node's Redis, as its config describes it: one place that turns the config keys into client
-- options and a client, so that every service that uses "the node's Redis" (the game, the
-- cluster's membership) reaches the same server the same way.
--
-- Config keys (the node's env):
--   redis = "host:port"                  a standalone server (the node sets it when it started
--                                        a local redis-server itself)
--   redis_sentinels = "h:p,h:p,..."      or Sentinel: the sentinels and
--   redis_master = "name"                the master's name (default "mymaster")
--   redis_cluster = "h:p,h:p,..."        or Redis Cluster: some of its nodes (redis.cluster)
--   redis_auth, redis_db                 password and database (no database on a cluster)
-- When several are set, redis_cluster wins over redis_sentinels, which wins over redis.
--
-- Thread: any service; each connects its own client.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local M = {}

local function address(text, what)
    local host, port = text:match("^%[?([^%]]-)%]?:(%d+)$")
    if not host or host == "" then
        error(string.format("config %s = %q: host:port expected", what, text), 0)
    end
    return host, math.tointeger(tonumber(port))
end

local function address_list(text, what)
    local list = {}
    for item in text:gmatch("[^,%s]+") do
        address(item, what)
        list[#list + 1] = item
    end
    if #list == 0 then error(string.format("config %s = %q: host:port expected", what, text), 0) end
    return list
end

-- The client options the config describes; raises a clear text when it describes none.
-- `getenv` reads a key (default skynet.getenv; a table is read as key -> value), so a caller
-- may describe a Redis other than the node's. Does not yield.
function M.options(getenv)
    if getenv == nil then
        getenv = skynet.getenv
    elseif type(getenv) == "table" then
        local t = getenv
        getenv = function(k) return t[k] end
    end
    local db = getenv "redis_db"
    local opts = {
        auth = getenv "redis_auth",
        db = db and math.tointeger(tonumber(db)),
        timeout = 3000,
    }
    if db and not opts.db then
        error(string.format("config redis_db = %q: a whole number expected", db), 0)
    end
    local cluster = getenv "redis_cluster"
    if cluster then
        if opts.db and opts.db ~= 0 then
            error("redis_db = " .. opts.db .. " with redis_cluster: a cluster has database 0 only", 0)
        end
        opts.db = nil
        opts.nodes = address_list(cluster, "redis_cluster")
        return opts
    end
    local sentinels = getenv "redis_sentinels"
    if sentinels then
        opts.sentinels = address_list(sentinels, "redis_sentinels")
        opts.master = getenv "redis_master" or "mymaster"
        return opts
    end
    local where = getenv "redis"
    if not where then
        error("no Redis configured: set redis = \"host:port\", redis_sentinels + redis_master, "
            .. "redis_cluster, or local_redis = \"dir\" to have the node start one", 0)
    end
    opts.host, opts.port = address(where, "redis")
    return opts
end

-- Where the options point, for log lines. Does not yield.
function M.describe(opts)
    if opts.nodes then
        return "cluster " .. table.concat(opts.nodes, ",")
    end
    if opts.sentinels then
        return string.format("master %s via sentinels %s", opts.master,
            table.concat(opts.sentinels, ","))
    end
    return string.format("%s:%d", opts.host, opts.port)
end

-- A client of the configured Redis (redis.connect, redis.sentinel or redis.cluster, which take
-- the same commands). Raises the client's text when the first connection fails. Yields.
function M.connect(opts)
    opts = opts or M.options()
    if opts.nodes then
        if not redis.cluster then
            error("redis_cluster is set but this build has no cluster client (redis.cluster)", 0)
        end
        return redis.cluster(opts)
    end
    if opts.sentinels then
        if not redis.sentinel then
            error("redis_sentinels is set but this build has no Sentinel client (redis.sentinel)", 0)
        end
        return redis.sentinel(opts)
    end
    return redis.connect(opts)
end

-- A pub/sub watcher of the configured Redis (classic PUBLISH, which a cluster delivers on every
-- node). Yields.
function M.watch(opts)
    opts = opts or M.options()
    if opts.nodes then
        local w = {}
        for k, v in pairs(opts) do w[k] = v end
        w.cluster = opts.nodes
        return redis.watch(w)
    end
    return redis.watch(opts)
end

return M
