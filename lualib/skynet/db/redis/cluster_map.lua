-- The slot map of the Redis Cluster client: which node serves each of the 16384 slots, the
-- nodes (one connection each, made lazily), and the background refresh that asks the cluster.
--
--   map.slots[s]     the master node of slot s (0-based index), or nil when no node has it
--   map.nodes[addr]  node = {addr = "h:p", host, port, id (the cluster's node id, when known),
--                    role, master (a replica's master node), replicas (a master's replica
--                    nodes), conn (connection or nil)}
--
-- A node's connection checks CLUSTER MYID in its handshake once the map knows the node's id, so
-- a server that took over a dead node's address gets no command meant for that node.
--
-- Topology comes from CLUSTER SHARDS, or CLUSTER SLOTS on a server that does not know that
-- command, asked of a node whose connection is ready, else of each seed and known node on a
-- connection of its own. A refresh runs in one coroutine: asking for one while it runs makes at
-- most one more (a burst of MOVED replies costs two refreshes, not one each).
--
-- Thread: the owning service. refresh_now yields; the rest does not.
local skynet = require "skynet"
local connection = require "skynet.db.redis.connection"
local reconnect = require "skynet.db.redis.reconnect"
local request = require "skynet.db.redis.request"

local format, tostring, tonumber, type, pairs = string.format, tostring, tonumber, type, pairs
local now, fork = skynet.now, skynet.fork
local is_error = connection.is_error

local M = {}
local map = {}
map.__index = map

function M.split(addr)
    local host, port = tostring(addr):match("^(.*):(%d+)$")
    if not host or host == "" then return nil end
    return host, tonumber(port)
end

-- owner: the router (owner:on_ready(node), owner:on_node_down(node, cause), owner:on_map()).
function M.new(owner, seeds, conn_opts)
    return setmetatable({
        owner = owner,
        seeds = seeds,
        conn_opts = conn_opts,
        slots = {},
        nodes = {},
        masters = {},        -- list of master nodes (for keyless commands)
        refreshing = false,
        again = false,
        last_refresh = -1000,
        cause = "no topology yet",
        closed = false,
        version = 0,
        stats = nil,         -- the router's counters (refreshes)
    }, map)
end

----------------------------------------------------------------------------------------------
-- Nodes and their connections

function map:node(addr)
    local n = self.nodes[addr]
    if n then return n end
    local host, port = M.split(addr)
    n = { addr = addr, host = host, port = port, role = "master", replicas = {}, conn = nil }
    self.nodes[addr] = n
    return n
end

local function start(c)
    local ok, err = reconnect.attempt(c)
    if ok or c.state == "closed" then return end
    c.cause = err
    if c.state == "handshake" then c.state = "down" end
    if c.state == "down" and not c.reconnecting then
        c.reconnecting = true
        reconnect.loop(c)
    end
end

-- The node's connection, made (and its first attempt started in the background) on first use.
-- A replica's connection sends READONLY in its handshake. Does not yield.
function map:conn(n)
    local c = n.conn
    if c then return c end
    local o = {}
    for k, v in pairs(self.conn_opts) do o[k] = v end
    o.host, o.port = n.host, n.port
    o.readonly = n.role == "replica" or nil
    o.cluster_id = n.id
    c = connection.new(o, n.role == "replica" and "replica" or "master")
    n.conn = c
    local owner = self.owner
    c.on_ready = function() owner:on_ready(n) end
    c.on_drop = function(conn, cause)
        owner:on_node_down(n, cause)
        if conn.state == "down" and not conn.reconnecting then
            conn.reconnecting = true
            fork(reconnect.loop, conn)
        end
    end
    fork(start, c)
    return c
end

-- Closes a node's connection once its requests in flight have their replies (or fail).
local function retire(n)
    local c = n.conn
    n.conn = nil
    if not c or c.state == "closed" then return end
    if c.qhead > c.qtail then return c:close() end
    fork(function()
        while c.state ~= "closed" and c.qhead <= c.qtail do skynet.sleep(1) end
        c:close()
    end)
end

----------------------------------------------------------------------------------------------
-- Parsing

-- A flat {k1, v1, k2, v2...} (RESP2 form of CLUSTER SHARDS' maps) as a table.
local function fields(list)
    local t = {}
    if type(list) ~= "table" then return t end
    for i = 1, #list - 1, 2 do t[list[i]] = list[i + 1] end
    return t
end

local function endpoint(host, port, fallback_host)
    if host == nil or host == "" or host == "?" then host = fallback_host end
    if not host or not tonumber(port) or tonumber(port) == 0 then return nil end
    return format("%s:%d", host, tonumber(port))
end

-- CLUSTER SHARDS -> list of {ranges = {s1, e1, ...}, master = addr, replicas = {addr...},
-- ids = {[addr] = node id}}.
local function parse_shards(v, from_host)
    local shards = {}
    for i = 1, #v do
        local s = fields(v[i])
        local shard = { ranges = s.slots or {}, replicas = {}, ids = {} }
        local nodes = s.nodes or {}
        for j = 1, #nodes do
            local f = fields(nodes[j])
            local addr = endpoint(f.endpoint ~= "" and f.endpoint or f.ip, f.port, from_host)
            if addr then
                shard.ids[addr] = f.id
                if f.role == "master" then
                    -- A failed master keeps its slots until a replica takes over.
                    if not shard.master or f.health ~= "failed" then shard.master = addr end
                elseif f.health == "online" then
                    shard.replicas[#shard.replicas + 1] = addr
                end
            end
        end
        if shard.master and #shard.ranges > 0 then shards[#shards + 1] = shard end
    end
    return shards
end

-- CLUSTER SLOTS -> the same shape (one entry per slot range).
local function parse_slots(v, from_host)
    local shards = {}
    for i = 1, #v do
        local e = v[i]
        local m = type(e[3]) == "table" and endpoint(e[3][1], e[3][2], from_host)
        if m then
            local shard = { ranges = { e[1], e[2] }, master = m, replicas = {},
                ids = { [m] = e[3][3] } }
            for j = 4, #e do
                local r = type(e[j]) == "table" and endpoint(e[j][1], e[j][2], from_host)
                if r then
                    shard.replicas[#shard.replicas + 1] = r
                    shard.ids[r] = e[j][3]
                end
            end
            shards[#shards + 1] = shard
        end
    end
    return shards
end

-- Asks one connection for the topology. Returns the shards, or nil and why. Yields.
local function ask(c, cs)
    local r = request.new("CLUSTER SHARDS", table.pack("CLUSTER", "SHARDS"), cs)
    c:issue(r)
    local v = c:await(r)
    if is_error(v) and v.err:find("unknown", 1, true) then
        r = request.new("CLUSTER SLOTS", table.pack("CLUSTER", "SLOTS"), cs)
        c:issue(r)
        v = c:await(r)
        if is_error(v) then return nil, format("%s: CLUSTER SLOTS: %s", c.addr, v.err) end
        return parse_slots(v, c.host)
    end
    if is_error(v) then return nil, format("%s: CLUSTER SHARDS: %s", c.addr, v.err) end
    if type(v) ~= "table" then return nil, format("%s: CLUSTER SHARDS: not a list", c.addr) end
    return parse_shards(v, c.host)
end

----------------------------------------------------------------------------------------------
-- Applying a topology

-- A node's id as the cluster names it; a connection made for another id checks the new one.
local function identify(n, id)
    if type(id) ~= "string" or id == "" or n.id == id then return end
    n.id = id
    if n.conn then n.conn.cluster_id = id end
end

function map:apply(shards)
    local slots = self.slots
    for s = 0, 16383 do slots[s] = nil end
    local keep, masters = {}, {}
    for _, sh in ipairs(shards) do
        local m = self:node(sh.master)
        if m.role ~= "master" then
            -- A replica promoted: its READONLY connection is not the one to write on.
            retire(m)
            m.role = "master"
        end
        m.master = nil
        identify(m, sh.ids[sh.master])
        keep[m] = true
        if not m.listed then
            m.listed = true
            masters[#masters + 1] = m
        end
        local reps = {}
        for _, addr in ipairs(sh.replicas) do
            local r = self:node(addr)
            if r.role ~= "replica" then
                retire(r)
                r.role = "replica"
            end
            r.master = m
            identify(r, sh.ids[addr])
            keep[r] = true
            reps[#reps + 1] = r
        end
        m.replicas = reps
        local ranges = sh.ranges
        for i = 1, #ranges - 1, 2 do
            for s = tonumber(ranges[i]), tonumber(ranges[i + 1]) do slots[s] = m end
        end
    end
    for _, m in ipairs(masters) do m.listed = nil end
    -- Nodes the cluster no longer names: their connections go.
    for addr, n in pairs(self.nodes) do
        if not keep[n] then
            retire(n)
            self.nodes[addr] = nil
        end
    end
    self.masters = masters
    self.version = self.version + 1
end

-- MOVED slot addr: that slot is served by addr from now on (the refresh fills in the rest).
function map:moved(slot, addr)
    local n = self:node(addr)
    if n.role ~= "master" then
        retire(n)
        n.role = "master"
        n.master = nil
        self.masters[#self.masters + 1] = n
    end
    self.slots[slot] = n
    return n
end

-- Asks for the topology: from a ready connection of a known node, else each seed and known node
-- on a connection of its own. Returns true, or nil and the causes. Yields.
function map:refresh_now()
    local cs = self.conn_opts.timeout and (self.conn_opts.timeout + 9) // 10 or 500
    local errs = {}
    local tried = {}
    -- A snapshot: asking yields, and a MOVED meanwhile may add a node to the table.
    local ready = {}
    for _, n in pairs(self.nodes) do ready[#ready + 1] = n end
    for _, n in ipairs(ready) do
        local c = n.conn
        if c and c.state == "ready" and n.role == "master" then
            tried[n.addr] = true
            local ok, shards, err = pcall(ask, c, cs)
            if ok and shards and #shards > 0 then
                self:apply(shards)
                return true
            end
            errs[#errs + 1] = tostring(ok and (err or "no slots served") or shards)
        end
    end
    local list = {}
    for _, s in ipairs(self.seeds) do list[#list + 1] = s end
    for addr in pairs(self.nodes) do list[#list + 1] = addr end
    for _, addr in ipairs(list) do
        if self.closed then return nil, "closed" end
        if not tried[addr] then
            tried[addr] = true
            local o = {}
            for k, v in pairs(self.conn_opts) do o[k] = v end
            o.host, o.port = M.split(addr)
            local c = connection.new(o, "cluster")
            local ok, shards, err = pcall(function()
                c:connect()
                return ask(c, cs)
            end)
            c:close()
            if ok and shards and #shards > 0 then
                self:apply(shards)
                return true
            end
            errs[#errs + 1] = tostring(ok and (err or "no slots served") or shards)
        end
    end
    return nil, table.concat(errs, "; ")
end

-- Runs refreshes until none is asked for; tells the owner after each.
local function run(self)
    repeat
        self.again = false
        self.last_refresh = now()
        if self.stats then self.stats.refreshes = self.stats.refreshes + 1 end
        local ok, err = self:refresh_now()
        if ok then
            self.cause = nil
        elseif not self.closed then
            self.cause = "topology unknown: " .. tostring(err)
        end
        if self.closed then break end
        self.owner:on_map(ok)
    until not self.again or self.closed
    self.refreshing = false
end

-- Asks for a refresh in the background; coalesced with one that runs. Does not yield.
function map:refresh()
    if self.closed then return end
    if self.refreshing then
        self.again = true
        return
    end
    self.refreshing = true
    fork(run, self)
end

function map:close()
    self.closed = true
    for addr, n in pairs(self.nodes) do
        if n.conn then n.conn:close() end
        n.conn = nil
        self.nodes[addr] = nil
    end
end

return M
