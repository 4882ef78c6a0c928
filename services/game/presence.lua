-- Who is online where, across nodes: the game:online hash (player -> node) and each node's
-- heartbeat key. A player can be logged in on one live node at a time; entries of a node whose
-- heartbeat expired (killed, cut off) no longer count and are cleaned up by the next `who`, or
-- by that node itself when it starts again.
--
-- A live node's entries follow its players even when Redis was away when they left: a release
-- that fails is retried at the next heartbeats, and every SYNC_BEATS heartbeats (and on the
-- first one after Redis came back) the node removes its entries of anyone it does not have.
--
-- Thread: the owning service (its Redis client). Everything but new() yields.
local skynet = require "skynet"
local gdb = require "game_db"

local presence = {}
presence.__index = presence

local TTL = 3000   -- ms a heartbeat lives
local BEAT = 100   -- cs between heartbeats
local SYNC_BEATS = 10 -- heartbeats between reconciliations of this node's entries

-- presence.new(db, node, holding) -> p. `holding()` returns the set (name -> anything) of the
-- players this node has or is logging in: the reconciliation keeps exactly their entries.
-- Does not yield.
function presence.new(db, node, holding)
    return setmetatable({
        holding = holding,
        pending = {}, -- name -> true: releases that failed, retried at the next heartbeats
        db = db,
        node = node,
        key = gdb.node_key(node),
        -- One instance per run, so a restarted node tells its heartbeat from its previous run's.
        instance = string.format("%d.%x", os.time(), skynet.hpc() & 0xffffffff),
        running = false,
        known_nodes = { node }, -- nodes whose heartbeats who passes to its script
    }, presence)
end

-- Takes the node's heartbeat, waiting up to `wait_ms` for a previous run's to expire (a node
-- restarted right after kill -9), then clears the entries that run left behind. Raises when the
-- name stays taken: another live process uses this node name.
function presence:start(wait_ms)
    local deadline = skynet.now() + (wait_ms or 2 * TTL) // 10
    local told = false
    while gdb.HEARTBEAT(self.db, 1, self.key, self.instance, TTL) ~= 1 do
        if skynet.now() >= deadline then
            error(string.format("node name %s is in use by a live node (%s is held)", self.node,
                self.key), 0)
        end
        if not told then
            skynet.error(string.format("game: waiting for the previous run of %s to expire (%s)",
                self.node, self.key))
            told = true
        end
        skynet.sleep(20)
    end
    local cleared = gdb.CLEAR_NODE(self.db, 1, gdb.ONLINE, self.node)
    if cleared > 0 then
        skynet.error(string.format("game: cleared %d players left online by a previous run of %s",
            cleared, self.node))
    end
    self.running = true
    skynet.fork(function()
        local lost = false
        local beats = 0
        while self.running do
            skynet.sleep(BEAT)
            if not self.running then break end
            local ok, r = pcall(gdb.HEARTBEAT, self.db, 1, self.key, self.instance, TTL)
            if ok and r == 1 then
                beats = beats + 1
                if lost then skynet.error("game: heartbeat restored") end
                self:retry_releases()
                if lost or beats % SYNC_BEATS == 0 then self:sync() end
                lost = false
            elseif not lost then
                lost = true
                -- Other nodes may now log our players in; the store's version check keeps
                -- this node from overwriting what they write.
                skynet.error("game: heartbeat failed: " ..
                    (ok and ("taken by another instance of " .. self.node) or tostring(r)))
            end
        end
    end)
end

-- Claims `name` for this node. -> true | false, node (logged in on that live node). The script
-- needs the heartbeat of the node that has the player: it first guesses this node (nobody has
-- them, the common case), and is told which node to pass otherwise.
function presence:claim(name)
    self.pending[name] = nil
    local guess = self.node
    for _ = 1, 8 do
        local r = gdb.CLAIM(self.db, 2, gdb.ONLINE, gdb.node_key(guess), name, self.node, guess)
        if r[1] == 1 then return true end
        if r[1] == 0 then return false, r[2] end
        guess = r[2]
    end
    error("presence of " .. name .. " keeps moving between nodes", 0)
end

-- The node that has `name` online -> node | nil (not online: no entry, or the entry of a node
-- whose heartbeat expired). Two reads, not one script: on Redis Cluster the entry and the
-- heartbeat are in different slots. Raises when Redis does not answer.
function presence:where(name)
    local node = self.db:hget(gdb.ONLINE, name)
    if type(node) ~= "string" then return nil end
    if node ~= self.node and not self.db:exists(gdb.node_key(node)) then return nil end
    return node
end

-- Releases `name` if this node holds it. When Redis does not answer, the release is kept and
-- retried at the next heartbeats. -> true (released or nothing to release) | false, error
function presence:release(name)
    local ok, err = pcall(gdb.RELEASE, self.db, 1, gdb.ONLINE, name, self.node)
    if ok then
        self.pending[name] = nil
        return true
    end
    self.pending[name] = true
    return false, err
end

-- Retries the releases that failed, unless the name is held here again.
function presence:retry_releases()
    if not next(self.pending) then return end
    local held = self.holding and self.holding() or {}
    for name in pairs(self.pending) do
        if held[name] then
            self.pending[name] = nil
        elseif self:release(name) then
            skynet.error(string.format("game: %s left presence (a release retried)", name))
        end
    end
end

-- Removes this node's entries of players it does not have.
function presence:sync()
    if not self.holding then return end
    local args = { self.node }
    for name in pairs(self.holding()) do args[#args + 1] = name end
    local ok, n = pcall(gdb.SYNC_NODE, self.db, 1, gdb.ONLINE, table.unpack(args))
    if ok and n > 0 then
        skynet.error(string.format("game: removed %d presence entries of players gone from %s",
            n, self.node))
    end
end

-- The WHO script's reply: it is passed the heartbeats of the nodes seen last time, and names
-- the nodes it was not passed.
local function who_ids(self)
    local nodes = self.known_nodes
    for _ = 1, 8 do
        local args = { gdb.ONLINE }
        for i = 1, #nodes do args[#args + 1] = gdb.node_key(nodes[i]) end
        for i = 1, #nodes do args[#args + 1] = nodes[i] end
        local r = gdb.WHO(self.db, #nodes + 1, table.unpack(args))
        if r[1] == 1 then return r end
        for i = 2, #r do nodes[#nodes + 1] = r[i] end
    end
    error("the nodes online keep changing", 0)
end

-- { {name, node}, ... } of players on live nodes, sorted by name, each as first registered
-- (read from the players' records: on a cluster those are in other slots than presence).
function presence:who()
    local flat = who_ids(self)
    local seen, nodes = {}, {}
    local list, reads = {}, {}
    for i = 2, flat.n or #flat, 2 do
        local id, node = flat[i], flat[i + 1]
        if not seen[node] then
            seen[node] = true
            nodes[#nodes + 1] = node
        end
        list[#list + 1] = { id, node }
        reads[#reads + 1] = { "hget", gdb.player_key(id), "name" }
    end
    if not seen[self.node] then nodes[#nodes + 1] = self.node end
    self.known_nodes = nodes -- the nodes of this answer: dead ones do not pile up
    if #reads > 0 then
        local names = self.db:pipeline(reads, {})
        for i, e in ipairs(list) do
            local r = names[i]
            if r and r.ok and type(r.out) == "string" then e[1] = r.out end
        end
    end
    table.sort(list, function(a, b) return a[1] < b[1] end)
    return list
end

-- Removes this node's entries and heartbeat (a clean shutdown).
function presence:stop()
    self.running = false
    gdb.CLEAR_NODE(self.db, 1, gdb.ONLINE, self.node)
    gdb.STOP_NODE(self.db, 1, self.key, self.instance)
end

return presence
