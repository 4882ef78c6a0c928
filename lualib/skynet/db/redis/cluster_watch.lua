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
-- A shard channel the server drops because its slot moved (Redis 7 sends `sunsubscribe`) is
-- subscribed again on its new master.
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
        s.on_lost_shard = function(from, ch)
            from.shard[ch] = nil
            home[ch] = nil
            skynet.fork(function()
                pcall(map.refresh_now, map)
                local ok2, e = pcall(w.ssubscribe, w, ch)
                if not ok2 then
                    skynet.error(format("%s: SSUBSCRIBE %s again after its slot moved: %s",
                        r.addr, ch, tostring(e)))
                end
            end)
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
