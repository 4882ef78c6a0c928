-- Who is online where, across nodes: the game:online hash (player -> node) and each node's
-- heartbeat key. A player can be logged in on one live node at a time; entries of a node whose
-- heartbeat expired (killed, cut off) no longer count and are cleaned up by the next `who`, or
-- by that node itself when it starts again.
--
-- Thread: the owning service (its Redis client). Everything but new() yields.
local skynet = require "skynet"
local gdb = require "game_db"

local presence = {}
presence.__index = presence

local TTL = 3000   -- ms a heartbeat lives
local BEAT = 100   -- cs between heartbeats

-- presence.new(db, node) -> p. Does not yield.
function presence.new(db, node)
    return setmetatable({
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
        while self.running do
            skynet.sleep(BEAT)
            if not self.running then break end
            local ok, r = pcall(gdb.HEARTBEAT, self.db, 1, self.key, self.instance, TTL)
            if ok and r == 1 then
                if lost then skynet.error("game: heartbeat restored") end
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
    local r = gdb.CLAIM(self.db, 1, gdb.ONLINE, name, self.node, gdb.NODE_PREFIX)
    if r[1] == 1 then return true end
    return false, r[2]
end

-- Releases `name` if this node holds it.
function presence:release(name)
    return gdb.RELEASE(self.db, 1, gdb.ONLINE, name, self.node) == 1
end

-- { {name, node}, ... } of players on live nodes, sorted by name.
function presence:who()
    local flat = gdb.WHO(self.db, 1, gdb.ONLINE, gdb.NODE_PREFIX)
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
