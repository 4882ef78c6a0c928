-- The connection of a Redis Cluster client: it has the interface of connection.lua's (issue,
-- await, call, close, addr), like the Sentinel router, so that every method of skynet.db.redis
-- works on it unchanged, and sends each request to the node that serves its keys' slot (one
-- connection per node, cluster_map.lua).
--
-- Invariants:
--   * a request is sent again only when the server said it did not run it: MOVED, ASK,
--     TRYAGAIN, CLUSTERDOWN (for a transaction: a queued command got one and EXEC aborted);
--   * a request is only given to a connection that is ready; otherwise the router holds it
--     (unsent) and sends it when the node's connection is ready or a refreshed map names another
--     node, or fails it once its deadline (the client's timeout) passes. A request in flight on
--     a connection that drops fails with the connection's "may or may not have executed" text;
--   * every key of one command, transaction or script call hashes to one slot: checked before
--     anything is sent (cluster_keys.lua);
--   * a pipeline is split per node, each node's part sent at once; its replies come back in the
--     caller's order; a redirected command of a pipeline is sent again alone, in order.
--
-- Thread: the owning service; await and call yield.
local skynet = require "skynet"
local codec = require "skyhive.redis.codec"
local connection = require "skynet.db.redis.connection"
local request = require "skynet.db.redis.request"
local keys = require "skynet.db.redis.cluster_keys"
local cluster_map = require "skynet.db.redis.cluster_map"
local pipeline = require "skynet.db.redis.cluster_pipeline"

local format, tpack, tostring, type, select, random = string.format, table.pack, tostring, type,
    select, math.random
local upper = string.upper
local now, wait, timeout = skynet.now, skynet.wait, skynet.timeout
local is_error = connection.is_error
local slot_of = codec.slot
-- Commands a node connection lets wait before it writes early (connection.lua flush_commands).
local CLUSTER_FLUSH_COMMANDS = 256

local M = {}
local router = {}
router.__index = router

-- The redirection an error text is ("moved", slot, addr / "ask", slot, addr / "tryagain" /
-- "clusterdown"), or nil.
local function redirect(text)
    local b = text:byte(1)
    if b == 77 then  -- M
        local s, a = text:match("^MOVED (%d+) (%S+)")
        if s then return "moved", tonumber(s), a end
    elseif b == 65 then  -- A
        local s, a = text:match("^ASK (%d+) (%S+)")
        if s then return "ask", tonumber(s), a end
    elseif b == 84 then  -- T
        if text:sub(1, 8) == "TRYAGAIN" then return "tryagain" end
    elseif b == 67 then  -- C
        if text:sub(1, 11) == "CLUSTERDOWN" then return "clusterdown" end
    end
end
M.redirect = redirect
router.redirect = redirect  -- for cluster_pipeline.lua, which has the router as `self`

-- opts: the client's options (see skynet.db.redis.cluster); seeds: list of "host:port".
function M.new(opts, seeds)
    local timeout_ms = opts.timeout
    if timeout_ms == nil then timeout_ms = 5000 end
    local read_from = opts.read_from or "master"
    local self = setmetatable({
        addr = format("redis cluster %s", seeds[1]),
        seeds = seeds,
        specs = {},
        read_from = read_from,
        replica_reads = read_from ~= "master",
        timeout_cs = timeout_ms and (timeout_ms + 9) // 10 or nil,
        hold_cs = ((timeout_ms or 30000) + 9) // 10,
        queue_limit = opts.queue_limit or 10000,
        backoff_min = opts.backoff_min or 20,
        backoff_max = opts.backoff_max or 500,
        refresh_cs = ((opts.refresh_interval or 10000) + 9) // 10,
        held = {},
        ticking = false,
        state = "ready",
        stats = { moved = 0, ask = 0, tryagain = 0, clusterdown = 0, refreshes = 0,
            held_peak = 0, retried = 0 },
    }, router)
    self.map = cluster_map.new(self, seeds, {
        auth = opts.auth, username = opts.username, name = opts.name, timeout = timeout_ms,
        connect_timeout = opts.connect_timeout or 1000, max_bulk = opts.max_bulk,
        -- A node's reconnect attempts: the map's refreshes, not these, find a promoted replica.
        max_elements = opts.max_elements, backoff_min = 50, backoff_max = 1000,
        -- A node's connection takes its share of many callers' pipelines: writing each tick's
        -- commands once (up to 64 KB) saves more than starting the server early gains here.
        flush_commands = CLUSTER_FLUSH_COMMANDS,
    })
    self.map.stats = self.stats
    self.tick_fn = function() return self:tick() end
    return self
end

----------------------------------------------------------------------------------------------
-- Where a request goes

-- The node a request goes to now (nil when its slot has no known master).
function router:target(r)
    local ask = r.ask_node
    if ask then return ask end
    local map = self.map
    local slot = r.slot
    local m
    if slot >= 0 then
        m = map.slots[slot]
        if not m then return nil end
    else
        local list = map.masters
        for i = 1, #list do
            local c = list[i].conn
            if c and c.state == "ready" then return list[i] end
        end
        return list[1]
    end
    if not (r.ro and self.replica_reads) or r.to_master then return m end
    local reps = m.replicas
    local count = #reps
    if count == 0 then return m end
    local rep = reps[count == 1 and 1 or random(1, count)]
    if self.read_from == "prefer_replica" then
        local c = rep.conn or map:conn(rep)
        if c.state ~= "ready" then return m end
    end
    return rep
end

local function hold(self, r, cause)
    local held = self.held
    if #held >= self.queue_limit then
        r.held = cause
        error(format("%s: %s: %s and %d commands are already waiting", self.addr, r[1],
            self:why(r), self.queue_limit), 0)
    end
    r.held = cause
    held[#held + 1] = r
    if #held > self.stats.held_peak then self.stats.held_peak = #held end
    if not self.ticking then
        self.ticking = true
        timeout(1, self.tick_fn)
    end
end

-- Sends r to the node its slot maps to when that node's connection is ready, else holds it.
-- Raises when it cannot be held (queue_limit) or encoded.
function router:dispatch(r)
    local t = now()
    if r.retry_at and r.retry_at > t then return hold(self, r, r.held or "retrying") end
    local n = self:target(r)
    if not n then
        self.map:refresh()
        return hold(self, r, format("no node serves slot %d (%s)", r.slot,
            self.map.cause or "the map is being refreshed"))
    end
    local c = n.conn or self.map:conn(n)
    if c.state ~= "ready" then
        -- The cause is the node; why() says what became of it if the request gives up.
        return hold(self, r, n)
    end
    r.held = nil
    r.via = c
    r.vnode = n
    if self.timeout_cs then
        local left = r.hold_deadline - t
        r.timeout_cs = left > 0 and left or 1
    end
    if r.ask_node then
        -- ASKING and the command (or the transaction) as one batch, on that node, once.
        r.ask_node = nil
        local body = r.cmds or { r.keep }
        local cmds = { { "ASKING", n = 1 } }
        for i = 1, #body do cmds[i + 1] = body[i] end
        r.unwrap = { cmds = r.cmds, want = r[2] }
        r.cmds, r[2], r.args = cmds, #cmds, nil
    end
    return c:issue(r)
end

----------------------------------------------------------------------------------------------
-- Holding and retrying

-- Why a held request is held: its text, or the node whose connection is not ready.
function router:why(r)
    local h = r.held
    if type(h) == "table" then
        local c = h.conn
        if not c then return format("%s is no longer in the map", h.addr) end
        return format("%s is %s (%s)", h.addr, c.state == "down" and "down" or c.state,
            tostring(c.cause))
    end
    return h or self.map.cause or "no connection"
end

function router:fail(r, text)
    r.err = text
    connection.finish(r)
end

-- Sends again what is held and due (after a refresh, a connection made, a backoff).
function router:release()
    local list = self.held
    if #list == 0 then return end
    self.held = {}
    local t = now()
    for i = 1, #list do
        local r = list[i]
        if not r.done then
            if r.hold_deadline <= t then
                -- Held: never sent, or sent and refused (TRYAGAIN, CLUSTERDOWN): it did not run.
                self:fail(r, format("%s: %s: %s; gave up after %d ms, the command did not run",
                    self.addr, r[1], self:why(r), self.hold_cs * 10))
            else
                local ok, err = pcall(self.dispatch, self, r)
                if not ok then self:fail(r, err) end
            end
        end
    end
end

function router:tick()
    self.ticking = false
    if self.state == "closed" then return end
    local held = #self.held
    if held == 0 then return end
    -- While commands wait, the map is asked for again every 100 ms: a failover or a slot move
    -- shows there first.
    if now() - self.map.last_refresh >= 10 then self.map:refresh() end
    self:release()
    if #self.held > 0 and not self.ticking then
        self.ticking = true
        timeout(2, self.tick_fn)
    end
end

-- From the map: a node's connection is ready (the handshake done).
function router:on_ready(_)
    self:release()
end

-- From the map: a node's connection dropped; its slots may have a new master.
function router:on_node_down(_, _)
    self.map:refresh()
end

-- From the map: a refresh finished.
function router:on_map(_)
    self:release()
end

----------------------------------------------------------------------------------------------
-- The connection interface

-- Same contract as connection.lua's issue: returns at once; raises on a bad argument, keys in
-- different slots, or a full hold.
function router:issue(r)
    if self.state == "closed" then
        error(format("%s: %s: the client was closed", self.addr, r[1]), 0)
    end
    if not r.hold_deadline then
        local pipe = r[1] == "pipeline" and r.cmds
        -- A pipeline's arguments are checked as it is split (cluster_pipeline.lua).
        if pipe then
            connection.check_names(self.addr, r)
        else
            connection.check_request(self.addr, r)
        end
        r.hold_deadline = now() + self.hold_cs
        if r.cmds then
            if pipe then
                r.parts = pipeline.split(self, r)
                for _, p in ipairs(r.parts) do
                    p.hold_deadline = r.hold_deadline
                    self:dispatch(p)
                end
                return
            end
            local s, err = keys.batch_slot(self.specs, r.cmds, r[1])
            if not s then error(format("%s: %s", self.addr, err), 0) end
            r.slot, r.ro = s, false
        else
            local s, ro = keys.slot(self.specs, r.args)
            if not s then error(format("%s: %s", self.addr, ro), 0) end
            r.slot, r.ro = s, ro
        end
        r.keep = r.args
    end
    return self:dispatch(r)
end

-- The redirection a reply carries (for a transaction: a queued command's, when EXEC aborted).
local function reply_redirect(r, v)
    if is_error(v) then return redirect(v.err) end
    if r[1] ~= "MULTI/EXEC" or type(v) ~= "table" then return nil end
    local n = v.n or #v
    local exec = v[n]
    if not is_error(exec) then return nil end
    local kind, slot, addr = redirect(exec.err)
    if kind then return kind, slot, addr end
    for i = 2, n - 1 do
        local x = v[i]
        if is_error(x) then
            kind, slot, addr = redirect(x.err)
            if kind then return kind, slot, addr end
        end
    end
end

local function reset(r)
    r.done, r.value, r.err, r.got, r.deadline = nil, nil, nil, nil, nil
    r.args = r.keep
end

-- Records a redirection and prepares r to go again; false when its deadline has passed.
function router:redirected(r, kind, slot, addr)
    local stats = self.stats
    stats[kind] = stats[kind] + 1
    if now() >= r.hold_deadline then return false end
    stats.retried = stats.retried + 1
    reset(r)
    local map = self.map
    if kind == "moved" then
        map:moved(slot, addr)
        map:refresh()
        -- A replica's MOVED: the slot is not its master's any more; the master's side decides.
        r.to_master = true
        r.tries = nil
    elseif kind == "ask" then
        r.ask_node = map:node(addr)
    else
        local tries = (r.tries or 0) + 1
        r.tries = tries
        local d = math.min(self.backoff_max, self.backoff_min * (1 << math.min(tries - 1, 10)))
        r.retry_at = now() + (d + 9) // 10
        r.held = format("the cluster answered %s", upper(kind))
        map:refresh()
    end
    return true
end

-- Waits for the request; redirected ones go again within their deadline. Returns the value (a
-- list for batches; error replies as error objects) or raises. Yields.
function router:await(r)
    if r.parts then return pipeline.await(self, r) end
    while true do
        if not r.done then wait(r) end
        local err = r.err
        if err then error(err, 0) end
        local v = r.value
        local u = r.unwrap
        if u then
            -- Drop ASKING's reply; the request is what the caller issued again.
            r.unwrap = nil
            if u.cmds == nil then
                v = v[2]
            else
                local list = { n = u.want }
                for i = 1, u.want do list[i] = v[i + 1] end
                v = list
            end
            r.cmds, r[2], r.value = u.cmds, u.want, v
        end
        if r.part then return v end
        local kind, slot, addr = reply_redirect(r, v)
        if not kind or not self:redirected(r, kind, slot, addr) then return v end
        self:dispatch(r)
    end
end

-- One command (name, then the command's words); raises error replies naming the server. The hot
-- path: a single-key command whose node's connection is ready takes the connection's own call
-- (nothing kept, nothing allocated here); anything else, or a redirection, goes through a
-- request.
function router:call(name, ...)
    local spec = self.specs[name]
    if spec and spec.single and not (spec.readonly and self.replica_reads) then
        local key = select(2, ...)
        local tk = type(key)
        if tk == "string" or tk == "number" then
            local n = self.map.slots[slot_of(key)]
            local c = n and n.conn
            if c and c.state == "ready" then
                local t0 = now()
                local ok, v = pcall(c.call, c, name, ...)
                if ok then return v end
                local prefix = c.addr .. ": " .. name .. ": "
                local kind, slot, addr
                if v:sub(1, #prefix) == prefix then
                    kind, slot, addr = redirect(v:sub(#prefix + 1))
                end
                if not kind then error(v, 0) end
                -- Redirected: it did not run. It goes again as a request.
                local r = request.new(name, tpack(...))
                -- Within the command's timeout, counted from its first send.
                r.hold_deadline = t0 + self.hold_cs
                r.slot, r.ro, r.keep = slot_of(key), false, r.args
                if not self:redirected(r, kind, slot, addr) then error(v, 0) end
                self:dispatch(r)
                local rv = self:await(r)
                if is_error(rv) then error(format("%s: %s: %s", r.via.addr, name, rv.err), 0) end
                return rv
            end
        end
    end
    local r = request.new(name, tpack(...))
    self:issue(r)
    local v = self:await(r)
    if is_error(v) then
        error(format("%s: %s: %s", r.via and r.via.addr or self.addr, name, v.err), 0)
    end
    return v
end

-- A blocking command (BLPOP...) on a connection of its own to the slot's master, closed after.
-- `cs`: its timeout in centiseconds or false. Yields.
function router:blocking(name, cs, ...)
    local args = tpack(name, ...)
    local s, err = keys.slot(self.specs, args)
    if not s then error(format("%s: %s", self.addr, err), 0) end
    local n = s >= 0 and self.map.slots[s] or self.map.masters[1]
    if not n then error(format("%s: %s: no node serves slot %d", self.addr, name, s), 0) end
    local o = {}
    for k, v in pairs(self.map.conn_opts) do o[k] = v end
    o.host, o.port = n.host, n.port
    local c = connection.new(o, n.role == "replica" and "replica" or "master")
    local ok, v = pcall(function()
        c:connect()
        local r = request.new(name, args, cs)
        c:issue(r)
        return c:await(r)
    end)
    c:close()
    if not ok then error(v, 0) end
    if is_error(v) then error(format("%s: %s: %s", c.addr, name, v.err), 0) end
    return v
end

-- Closes for good: held requests and those in flight fail. Does not yield.
function router:close()
    if self.state == "closed" then return end
    self.state = "closed"
    self.map:close()
    local list = self.held
    self.held = {}
    for i = 1, #list do
        local r = list[i]
        if not r.done then
            self:fail(r, format("%s: %s: the client was closed", self.addr, r[1]))
        end
    end
end

-- {addr, role, slots, connected} per node the map knows, masters first.
function router:nodes()
    local count = {}
    local slots = self.map.slots
    for s = 0, 16383 do
        local m = slots[s]
        if m then count[m] = (count[m] or 0) + 1 end
    end
    local out = {}
    for addr, n in pairs(self.map.nodes) do
        out[#out + 1] = { addr = addr, role = n.role, slots = count[n] or 0,
            master = n.master and n.master.addr or nil,
            connected = n.conn ~= nil and n.conn.state == "ready" }
    end
    table.sort(out, function(a, b)
        if a.role ~= b.role then return a.role == "master" end
        return a.addr < b.addr
    end)
    return out
end

return M
