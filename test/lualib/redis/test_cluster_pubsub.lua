-- Pub/sub on a cluster (redis.watch { cluster = seeds }): SUBSCRIBE messages published on any
-- node arrive; SSUBSCRIBE channels in different slots are each subscribed on their slot's
-- master and get SPUBLISH messages; after a slot move (the server drops the subscription with
-- sunsubscribe) and after kill -9 of the master the watcher is on, both kinds arrive again.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"

-- Moves an empty slot by hand: IMPORTING, MIGRATING, then every master learns the new owner.
local function move(ctl, slot, from, to)
    local id = lab.node(to):command("CLUSTER", "MYID")
    lab.node(to):command("CLUSTER", "SETSLOT", slot, "IMPORTING",
        lab.node(from):command("CLUSTER", "MYID"))
    lab.node(from):command("CLUSTER", "SETSLOT", slot, "MIGRATING", id)
    lab.node(to):command("CLUSTER", "SETSLOT", slot, "NODE", id)
    lab.node(from):command("CLUSTER", "SETSLOT", slot, "NODE", id)
    for _, p in ipairs(ctl:masters()) do
        lab.node(p):command("CLUSTER", "SETSLOT", slot, "NODE", id)
    end
end

t.run(function()
    local ctl = lab.lab()
    local db = redis.cluster { nodes = lab.seeds, timeout = 15000 }
    local w = redis.watch { cluster = lab.seeds }
    local got = {}
    skynet.fork(function()
        while true do
            local ok, msg, ch = pcall(w.message, w)
            if not ok then return end
            got[ch .. "=" .. msg] = true
        end
    end)
    local function arrives(ch, msg, publish, cs)
        t.wait_until(function()
            if got[ch .. "=" .. msg] then return true end
            pcall(publish, ch, msg)
            return false
        end, cs or 500, ch .. " = " .. msg)
    end
    local function pub(ch, msg) return db:publish(ch, msg) end
    local function spub(ch, msg) return db:spublish(ch, msg) end

    w:subscribe("news")
    -- Published on every node: the cluster bus carries it to the watcher's node.
    for _, p in ipairs(lab.ports) do lab.node(p):publish("news", "from " .. p) end
    for _, p in ipairs(lab.ports) do arrives("news", "from " .. p, function() end) end

    -- Shard channels in different slots, each on its own master.
    local chans = { "room:{a}", "room:{b}", "room:{c}", "room:{d}" }
    local owners = {}
    for _, ch in ipairs(chans) do owners[lab.slot_owner(redis.slot(ch))] = true end
    local distinct = 0
    for _ in pairs(owners) do distinct = distinct + 1 end
    t.ok(distinct >= 2, "the channels live on several masters")
    w:ssubscribe(table.unpack(chans))
    for _, ch in ipairs(chans) do
        t.eq(db:spublish(ch, "hello"), 1, "SPUBLISH reached one subscriber on " .. ch)
        arrives(ch, "hello", spub)
    end

    -- A slot move: the old owner drops the subscription; the watcher subscribes on the new one.
    local ch = chans[1]
    local slot = redis.slot(ch)
    local from = lab.slot_owner(slot)
    local to
    for _, p in ipairs(ctl:masters()) do
        if tonumber(p) ~= from then to = tonumber(p) end
    end
    move(ctl, slot, from, to)
    arrives(ch, "after the move", spub)

    -- A slot moved while nobody listened: the watcher's map is stale, its SSUBSCRIBE goes to the
    -- old owner, which answers MOVED; the channel goes to the new owner and the call returns.
    local z = "room:{z}"
    local zfrom = lab.slot_owner(redis.slot(z))
    local zto
    for _, p in ipairs(ctl:masters()) do
        if tonumber(p) ~= zfrom then zto = tonumber(p) end
    end
    move(ctl, redis.slot(z), zfrom, zto)
    w:ssubscribe(z)
    arrives(z, "after MOVED", spub)
    chans[#chans + 1] = z

    -- kill -9 of the master the SUBSCRIBE connection is on, which also owns a shard channel.
    local victim = tonumber(w.conn.target:match(":(%d+)$"))
    local mine
    for i = 1, 1000 do
        local c = "room:{v" .. i .. "}"
        if lab.slot_owner(redis.slot(c)) == victim then
            mine = c
            break
        end
    end
    w:ssubscribe(mine)
    chans[#chans + 1] = mine
    arrives(mine, "before the kill", spub)
    lab.synced(victim)
    t.eq(ctl:kill(victim), "OK", "kill -9 of " .. victim)
    lab.forget(victim)
    arrives("news", "after the kill", pub, 3000)
    arrives(mine, "after the kill", spub, 3000)
    for _, c in ipairs(chans) do arrives(c, "at the end", spub, 1000) end
    t.ok(w.conn.target ~= "127.0.0.1:" .. victim, "the watcher moved off the dead node")
    w:disconnect()
    db:disconnect()
end, 6000)
