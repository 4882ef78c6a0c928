-- skynet.db.redis.sentinel: Redis clients that follow a master (or the replicas) through
-- Sentinel failover (docs/lua-api.md, "Sentinel"). Reached through skynet.db.redis:
--
--   local db = redis.sentinel { sentinels = { "127.0.0.1:26379", "127.0.0.1:26380" },
--                               master = "mymaster", role = "master", auth = "pw" }
--   db:incr("counter")             -- every method of redis.connect's clients
--   db.retry:get("k")              -- the same client, its commands marked safe to retry
--   local w = redis.watch { sentinels = ..., master = "mymaster" }   -- pub/sub that follows
--
-- The sentinels are watched by one sentinel_watcher service per node (see
-- sentinel_watcher.lua; its service script is services/lua/sentinel_watcher.lua), shared by
-- every client of every service; each service long-polls it once per group and hands its state
-- to its clients. Without that service (a config whose luaservice path lacks services/lua/, or
-- watcher = false) the service watches the sentinels itself.
--
-- Thread: the owning service. connect and watch yield.
local skynet = require "skynet"
local router_mod = require "skynet.db.redis.sentinel_router"
local watcher_mod = require "skynet.db.redis.sentinel_watcher"
local watch_mod = require "skynet.db.redis.watch"
local connection = require "skynet.db.redis.connection"
local request = require "skynet.db.redis.request"

local format, tostring, type, pairs, tpack = string.format, tostring, type, pairs, table.pack
local is_error, split = connection.is_error, watcher_mod.split

local M = {}

----------------------------------------------------------------------------------------------
-- The watcher: the node's service, or one in this service

local access

local function get_access(service)
    if access then return access end
    if service ~= false then
        local name = service or "sentinel_watcher"
        local ok, h = pcall(skynet.uniqueservice, name)
        if ok then
            access = {
                handle = h,
                register = function(spec) return skynet.call(h, "lua", "register", spec) end,
                next = function(id, version) return skynet.call(h, "lua", "next", id, version) end,
                suspect = function(id) skynet.send(h, "lua", "suspect", id) end,
                release = function(id) skynet.send(h, "lua", "release", id) end,
            }
            return access
        end
        skynet.error(format("redis.sentinel: no %s service (%s); this service watches the sentinels itself",
            name, tostring(h):gsub("\n.*", "")))
    end
    local w = watcher_mod.new()
    access = {
        watcher = w,
        register = function(spec) return w:register(spec) end,
        next = function(id, version) return w:next(id, version) end,
        suspect = function(id) w:suspect(id) end,
        release = function(id) w:release(id) end,
    }
    return access
end

-- group id -> {id, state, members = {[member] = true}, running}: one long-poll per group and
-- service, whose states go to every member (routers, watches) by member:on_state(state).
local followers = {}

local function follow(f, acc)
    while next(f.members) do
        local ok, st = pcall(acc.next, f.id, f.state.version)
        if ok and st then
            f.state = st
            for m in pairs(f.members) do m:on_state(st) end
        elseif next(f.members) then
            skynet.error("redis.sentinel: lost the sentinel watcher: " ..
                (ok and "its group stopped" or tostring(st)))
            skynet.sleep(100)
        end
    end
    f.running = false
    if followers[f.id] == f then followers[f.id] = nil end
end

-- Adds a member to its group (registering the group with the watcher, which yields until its
-- first resolution). Returns the group id and a function that removes the member.
local function join(acc, spec, member)
    local id, st = acc.register(spec)
    local f = followers[id]
    if not f then
        f = { id = id, state = st, members = {} }
        followers[id] = f
    elseif st.version > f.state.version then
        f.state = st
    end
    f.members[member] = true
    if not f.running then
        f.running = true
        skynet.fork(follow, f, acc)
    end
    member:on_state(f.state)
    return id, function()
        if f.members[member] then
            f.members[member] = nil
            acc.release(id)
        end
    end
end

----------------------------------------------------------------------------------------------
-- Options

local function sentinel_list(list)
    assert(type(list) == "table" and #list > 0,
        "redis.sentinel: sentinels must list at least one \"host:port\"")
    local out = {}
    for i, s in ipairs(list) do
        if type(s) == "table" then s = format("%s:%s", s.host or s[1], s.port or s[2]) end
        assert(type(s) == "string" and split(s), format("redis.sentinel: sentinel #%d is not \"host:port\"", i))
        out[i] = s
    end
    return out
end

local function spec_of(opts)
    return {
        sentinels = sentinel_list(opts.sentinels),
        master = opts.master or "mymaster",
        sentinel_auth = opts.sentinel_auth,
        sentinel_username = opts.sentinel_username,
        poll = opts.poll,
        -- For the watcher's ROLE probe of the replica a failover promotes.
        auth = opts.auth,
        username = opts.username,
    }
end

local function copy(t)
    local o = {}
    for k, v in pairs(t) do o[k] = v end
    return o
end

----------------------------------------------------------------------------------------------
-- Clients

-- A view of the router whose requests are marked safe to retry.
local function safe_view(r)
    local view = setmetatable({}, { __index = function(_, k) return r[k] end })
    view.issue = function(_, req)
        req.safe = true
        return r:issue(req)
    end
    view.await = function(_, req) return r:await(req) end
    view.call = function(_, name, ...)
        local req = request.new(name, tpack(...))
        req.safe = true
        r:issue(req)
        local v = r:await(req)
        if is_error(v) then error(format("%s: %s: %s", r.addr, name, v.err), 0) end
        return v
    end
    view.close = function() return r:close() end
    return view
end

-- connect(opts, new_client) -> db. new_client(conn, opts) makes a skynet.db.redis client over
-- a connection object (redis.lua passes its own). Returns once the first connection is made
-- or its first attempt failed: the client then keeps trying, commands wait up to hold_timeout,
-- and the cause is logged. Yields.
function M.connect(opts, new_client)
    assert(type(opts) == "table", "redis.sentinel needs an options table")
    local spec = spec_of(opts)
    local o = copy(opts)
    o.sentinels, o.master = spec.sentinels, spec.master
    local r = router_mod.new(o, nil)
    local acc = get_access(opts.watcher)
    local id
    r.link = { suspect = function() if id then acc.suspect(id) end end }
    -- The client's options name the current master too, for what redis.lua connects by itself
    -- (the connections of blocking commands); its idle ones still point at the old master.
    local db, pools = nil, {}
    r.on_switch[1] = function(_, c)
        o.host, o.port = split(c.target)
        for _, pool in ipairs(pools) do
            for i = #pool.idle, 1, -1 do
                pool.idle[i]:close()
                pool.idle[i] = nil
                pool.count = pool.count - 1
            end
        end
    end
    local leave
    id, leave = join(acc, spec, r)
    r.on_close = leave
    local deadline = skynet.now() + (r.conn_opts.connect_timeout + 9) // 10 + r.role_cs + 10
    while r.state ~= "ready" and r.failures == 0 and skynet.now() < deadline and
        (r.fstate.master or r.role == "replica") do
        skynet.sleep(1)
    end
    if r.state ~= "ready" then
        skynet.error(format("redis.sentinel %s: not connected yet (%s); retrying", spec.master,
            tostring(r.cause)))
    end
    db = new_client(r, o)
    local retry = new_client(safe_view(r), o)
    rawset(db, "retry", retry)
    pools = { rawget(db, "pool"), rawget(retry, "pool") }
    return db
end

-- watch(opts) -> a redis.watch watcher on the current master that moves to each new master
-- (and subscribes again there). Raises when no master is known. Yields.
function M.watch(opts)
    local spec = spec_of(opts)
    local acc = get_access(opts.watcher)
    local member = {}
    local w
    function member:on_state(st)
        self.st = st
        local c = w and w.conn
        if not c or c.state == "closed" or not st.master or st.master == c.target then return end
        c.host, c.port = split(st.master)
        c.addr = format("redis %s (pub/sub %s)", st.master, spec.master)
        c.target = st.master
        -- A connection that is down picks the new address up at its next attempt.
        if c.sock then c:drop("the master moved to " .. st.master) end
    end
    local _, leave = join(acc, spec, member)
    local st = member.st
    if not st.master then
        leave()
        error(format("redis sentinel %s: no master address (%s)", spec.master, tostring(st.err)), 2)
    end
    local o = copy(opts)
    o.host, o.port = split(st.master)
    o.backoff_max = o.backoff_max or 1000
    local ok, made = pcall(watch_mod.new, o)
    if not ok then
        leave()
        error(made, 2)
    end
    w = made
    w.conn.target = st.master
    local base = w.disconnect
    w.disconnect = function(self)
        leave()
        return base(self)
    end
    w.close = w.disconnect
    member:on_state(member.st)
    return w
end

-- A snapshot for logs and tests: state, address, whether a failover holds commands, counters.
function M.status(db)
    local r = db.conn
    return {
        state = r.state, addr = r.addr, target = r.cur and r.cur.target, frozen = r.frozen,
        held = #r.held, cause = r.cause, stats = r.stats,
        master = r.fstate and r.fstate.master, epoch = r.fstate and r.fstate.epoch,
    }
end

return M
