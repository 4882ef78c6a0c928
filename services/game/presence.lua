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

-- Claims `name` for this node. -> true | false, node (logged in on that live node).
function presence:claim(name)
    self.pending[name] = nil
    local r = gdb.CLAIM(self.db, 1, gdb.ONLINE, name, self.node, gdb.NODE_PREFIX)
    if r[1] == 1 then return true end
    return false, r[2]
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

-- { {name, node}, ... } of players on live nodes, sorted by name.
function presence:who()
    local flat = gdb.WHO(self.db, 1, gdb.ONLINE, gdb.NODE_PREFIX, gdb.PLAYER_PREFIX)
    local list = {}
    for i = 1, flat.n or #flat, 2 do list[#list + 1] = { flat[i], flat[i + 1] } end
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
