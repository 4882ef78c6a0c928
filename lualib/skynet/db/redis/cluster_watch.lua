-- Pub/sub on a Redis Cluster: redis.watch { cluster = {"h:p", ...}, ... }.
--
--   local w = redis.watch { cluster = { "127.0.0.1:7000" } }
--   w:subscribe("news"); w:psubscribe("user.*")   -- on one node (messages reach every node)
--   w:ssubscribe("room:{7}")                      -- on the master of the channel's slot
--   local msg, channel, pattern = w:message()
--
-- The watcher is a redis.watch watcher (watch.lua) on one master for SUBSCRIBE/PSUBSCRIBE, plus
-- one per master for the shard channels it owns, whose messages go to the first one's queue.
-- Every connection, when it drops, is made again on the node the refreshed slot map names (any
-- master for the first; the master of its channels' slot for a shard one) and subscribes again.
-- A shard channel the server drops because its slot moved (Redis 7 sends `sunsubscribe`), or
-- whose SSUBSCRIBE a node answers with MOVED (a stale map), is subscribed again on the slot's
-- master.
--
-- Thread: the owning service. The constructor, subscribe, psubscribe, ssubscribe and message
-- yield.
local skynet = require "skynet"
local codec = require "skyhive.redis.codec"
local watch_mod = require "skynet.db.redis.watch"
local reconnect = require "skynet.db.redis.reconnect"
local router_mod = require "skynet.db.redis.cluster_router"

local format, pairs, next, tostring = string.format, pairs, next, tostring
local slot_of = codec.slot

local M = {}

local function copy(t)
    local o = {}
    for k, v in pairs(t) do o[k] = v end
    return o
end

local function point(c, node)
    c.host, c.port = node.host, node.port
    c.addr = format("redis %s (cluster pub/sub)", node.addr)
    c.target = node.addr
end

-- Replaces a watcher connection's reconnect loop: each attempt goes where choose() says (after
-- a refresh of the map), so a dead node is left for another.
local function follow(c, map, choose)
    c.on_drop = function(conn)
        if conn.state ~= "down" or conn.reconnecting then return end
        conn.reconnecting = true
        skynet.fork(function()
            local n = 0
            while conn.state == "down" do
                skynet.sleep((reconnect.backoff_ms(n, 50, 1000) + 9) // 10)
                if conn.state ~= "down" then break end
                n = n + 1
                pcall(map.refresh_now, map)
                local node = choose(n)
                if node then point(conn, node) end
                local ok, err = reconnect.attempt(conn)
                if not ok then
                    conn.cause = err
                    if conn.state == "handshake" then conn.state = "down" end
                end
            end
            conn.reconnecting = false
        end)
    end
end

-- The master whose connection should carry shard channel ch.
local function owner(map, ch)
    return map.slots[slot_of(ch)]
end

function M.new(opts, seeds)
    local r = router_mod.new(opts, seeds)
    local map = r.map
    local ok, err = map:refresh_now()
    if not ok then
        map:close()
        error(format("%s: pub/sub: no slot map from any node (%s)", r.addr, err), 3)
    end
    local base = copy(opts)
    base.cluster = nil
    local first = map.masters[1]
    base.host, base.port = first.host, first.port
    local w = watch_mod.new(base)
    point(w.conn, first)
    local shards = {}   -- master addr -> watcher of its shard channels
    local home = {}     -- shard channel -> its watcher
    -- The first watcher: any master, a different one on each attempt.
    follow(w.conn, map, function(n)
        local list = map.masters
        if #list == 0 then return nil end
        return list[n % #list + 1]
    end)

    local function sink(msg, channel, pattern)
        return watch_mod.deliver(w, msg, channel, pattern)
    end

    -- Moves shard channel ch off watcher `from` (the server dropped it: its slot moved, or MOVED
    -- answered its SSUBSCRIBE) to the slot's master as the map says, in the background, trying
    -- again until it is confirmed or the watcher is closed; the coroutines waiting for its
    -- confirmation on `from` wait for the new one.
    local function rehome(from, ch, slot, addr)
        from.shard[ch] = nil
        home[ch] = nil
        local tokens = watch_mod.handover(from, "ssubscribe", ch)
        skynet.fork(function()
            local tries = 0
            while w.conn.state ~= "closed" do
                if addr then
                    map:moved(slot, addr)
                    addr = nil
                else
                    pcall(map.refresh_now, map)
                end
                local node = owner(map, ch)
                -- The owner may still be the old node (the server dropped the channels of a slot
                -- it kept, as SETSLOT NODE on the owner does), or the map may be stale: a node
                -- that does not own the slot answers MOVED, and on_error moves the channel again.
                if node then
                    local ok2, e = pcall(w.ssubscribe, w, ch)
                    if ok2 then return watch_mod.settle(tokens) end
                    -- Moved again meanwhile: that move took the waiters and goes on.
                    if home[ch] == nil then return end
                    skynet.error(format("%s: SSUBSCRIBE %s on its new node: %s", r.addr, ch,
                        tostring(e)))
                end
                tries = tries + 1
                skynet.sleep(math.min(100, 5 * tries))
            end
        end)
    end

    local function shard_for(node)
        local s = shards[node.addr]
        if s and s.conn.state ~= "closed" then return s end
        local o = copy(base)
        o.host, o.port, o.sink = node.host, node.port, sink
        s = watch_mod.new(o)
        point(s.conn, node)
        shards[node.addr] = s
        follow(s.conn, map, function()
            -- Where its channels are now (the promoted replica after a failover).
            local ch = next(s.shard)
            return ch and owner(map, ch) or node
        end)
        s.on_lost_shard = function(from, ch) return rehome(from, ch) end
        -- SSUBSCRIBE sent on a stale map: the node names the slot's owner.
        s.on_error = function(from, text)
            local slot, addr = text:match("^MOVED (%d+) (%S+)")
            if not slot then
                return skynet.error(format("%s: pub/sub: %s", from.conn.addr, text))
            end
            slot = tonumber(slot)
            for ch in pairs(from.shard) do
                if home[ch] == from and slot_of(ch) == slot then rehome(from, ch, slot, addr) end
            end
        end
        return s
    end

    -- Shard channels go one by one to their slot's master.
    function w:ssubscribe(...)
        for i = 1, select("#", ...) do
            local ch = select(i, ...)
            if type(ch) ~= "string" then
                error(format("%s: SSUBSCRIBE: argument #%d is a %s (string expected)", r.addr, i,
                    type(ch)), 2)
            end
            local node = owner(map, ch)
            if not node then
                pcall(map.refresh_now, map)
                node = owner(map, ch)
            end
            if not node then
                error(format("%s: SSUBSCRIBE %s: no node serves slot %d", r.addr, ch,
                    slot_of(ch)), 2)
            end
            local s = shard_for(node)
            home[ch] = s
            s.shard[ch] = true  -- kept even if the wait below fails: restored on reconnect
            s:ssubscribe(ch)
        end
    end

    function w:sunsubscribe(...)
        local list = { ... }
        if #list == 0 then
            for ch in pairs(home) do list[#list + 1] = ch end
        end
        for _, ch in ipairs(list) do
            local s = home[ch]
            home[ch] = nil
            if s then s:sunsubscribe(ch) end
        end
    end

    local close = w.disconnect
    function w:disconnect()
        for _, s in pairs(shards) do s:disconnect() end
        map:close()
        return close(self)
    end
    w.close = w.disconnect
    return w
end

return M
