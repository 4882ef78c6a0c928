-- skynet.db.redis.cluster: a Redis client over a Redis Cluster (docs/lua-api.md, "Redis
-- Cluster"). Reached through skynet.db.redis:
--
--   local db = redis.cluster { nodes = { "127.0.0.1:7000", "127.0.0.1:7001" }, auth = "pw",
--                              timeout = 5000, read_from = "master" }
--   db:set("{user1}.name", "x")     -- every method of redis.connect's clients, routed by slot
--   db:nodes(); db:stats()          -- the map as the client sees it; redirection counters
--   local w = redis.watch { cluster = { "127.0.0.1:7000" } }   -- pub/sub on the cluster
--
-- The client is cluster_router.lua (routing, redirections, holding) over cluster_map.lua (the
-- slot map and one connection per node) and cluster_keys.lua (the keys of a command).
--
-- Thread: the owning service. connect and watch yield.
local skynet = require "skynet"
local connection = require "skynet.db.redis.connection"
local router_mod = require "skynet.db.redis.cluster_router"
local cluster_map = require "skynet.db.redis.cluster_map"
local keys = require "skynet.db.redis.cluster_keys"

local format, type, tostring, pairs = string.format, type, tostring, pairs
local is_error = connection.is_error

local M = {}

local READ_FROM = { master = true, replica = true, prefer_replica = true }

-- opts.nodes as a list of "host:port" (also {host, port} tables, or one "h:p,h:p" string).
local function seed_list(list, what)
    what = what or "nodes"
    if type(list) == "string" then
        local t = {}
        for s in list:gmatch("[^,%s]+") do t[#t + 1] = s end
        list = t
    end
    if type(list) ~= "table" or #list == 0 then
        error(format("redis.cluster: opts.%s must list at least one \"host:port\"", what), 4)
    end
    local out = {}
    for i, s in ipairs(list) do
        if type(s) == "table" then s = format("%s:%s", s.host or s[1], s.port or s[2]) end
        if type(s) ~= "string" or not cluster_map.split(s) then
            error(format("redis.cluster: opts.%s #%d is %s, not \"host:port\"", what, i,
                type(s) == "string" and format("%q", s) or "a " .. type(s)), 4)
        end
        out[i] = s
    end
    return out
end

local function check_opts(opts)
    if type(opts) ~= "table" then error("redis.cluster needs an options table", 3) end
    local rf = opts.read_from
    if rf ~= nil and not READ_FROM[rf] then
        error(format("redis.cluster: opts.read_from is %s (\"master\", \"replica\" or "
            .. "\"prefer_replica\" expected)", type(rf) == "string" and format("%q", rf)
            or "a " .. type(rf)), 3)
    end
    if opts.db and opts.db ~= 0 then
        error("redis.cluster: opts.db must be 0 (a cluster has only database 0)", 3)
    end
end

-- The server's command table (COMMAND), asked of the masters in turn. Yields.
local function command_table(r)
    local errs = {}
    for _, n in ipairs(r.map.masters) do
        local o = {}
        for k, v in pairs(r.map.conn_opts) do o[k] = v end
        o.host, o.port = n.host, n.port
        local c = connection.new(o, "cluster")
        local ok, v = pcall(function()
            c:connect()
            return c:call("COMMAND", "COMMAND")
        end)
        c:close()
        if ok and type(v) == "table" then return keys.new(v) end
        errs[#errs + 1] = tostring(v)
    end
    error(format("%s: COMMAND: %s", r.addr, table.concat(errs, "; ")), 0)
end

-- connect(opts, new_client) -> db. Raises when no seed answers with a slot map, or no master
-- answers COMMAND. The connections to the masters are made in the background; the first
-- commands wait for them (up to the timeout). Yields.
function M.connect(opts, new_client)
    check_opts(opts)
    local seeds = seed_list(opts.nodes)
    local r = router_mod.new(opts, seeds)
    local ok, err = r.map:refresh_now()
    if not ok then
        r:close()
        error(format("%s: no slot map from any node (%s)", r.addr, err), 2)
    end
    local got, specs = pcall(command_table, r)
    if not got then
        r:close()
        error(specs, 2)
    end
    r.specs = specs
    r.map.last_refresh = skynet.now()
    for _, m in ipairs(r.map.masters) do r.map:conn(m) end
    -- The background refresh every refresh_interval ms (the map also refreshes on MOVED, a
    -- dropped node and while commands are held).
    local function periodic()
        if r.state == "closed" then return end
        if skynet.now() - r.map.last_refresh >= r.refresh_cs then r.map:refresh() end
        skynet.timeout(r.refresh_cs, periodic)
    end
    skynet.timeout(r.refresh_cs, periodic)
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    local db = new_client(r, o)
    rawset(db, "nodes", function() return r:nodes() end)
    rawset(db, "stats", function()
        local s = {}
        for k, v in pairs(r.stats) do s[k] = v end
        s.held = #r.held
        return s
    end)
    return db
end

-- watch(opts) -> a pub/sub watcher on the cluster named by opts.cluster (seeds); see
-- cluster_watch.lua. Yields.
function M.watch(opts)
    check_opts(opts)
    return require("skynet.db.redis.cluster_watch").new(opts, seed_list(opts.cluster, "cluster"))
end

return M
