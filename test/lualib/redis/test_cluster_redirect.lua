-- Redirections of the Redis Cluster client, made by hand with plain connections (CLUSTER SETSLOT
-- IMPORTING / MIGRATING / NODE and MIGRATE), so that the client's map is stale on purpose:
-- MOVED is followed and updates the map, ASK sends ASKING + the command to the target once
-- without changing the map, a pipeline's redirected commands are sent again in order, and a
-- transaction refused by a MOVED while queueing runs whole on the new owner, and a multi-key
-- command refused with TRYAGAIN mid-migration runs once the migration ends.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"

local function id(port)
    return lab.node(port):command("CLUSTER", "MYID")
end

local function other_master(port)
    for _, p in ipairs(lab.lab():masters()) do
        if tonumber(p) ~= port then return tonumber(p) end
    end
end

-- Starts moving a slot: IMPORTING on the target, MIGRATING on the source.
local function begin_move(slot, from, to)
    t.eq(lab.node(to):command("CLUSTER", "SETSLOT", slot, "IMPORTING", id(from)), "OK", "importing")
    t.eq(lab.node(from):command("CLUSTER", "SETSLOT", slot, "MIGRATING", id(to)), "OK", "migrating")
end

local function migrate_key(key, from, to)
    t.eq(lab.node(from):command("MIGRATE", "127.0.0.1", to, key, 0, 5000), "OK", "migrate " .. key)
end

-- Ends the move: every key still on the source goes, then every master learns the new owner.
local function finish_move(slot, from, to)
    local left = lab.node(from):command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    for _, k in ipairs(left) do migrate_key(k, from, to) end
    local target = id(to)
    lab.node(to):command("CLUSTER", "SETSLOT", slot, "NODE", target)
    lab.node(from):command("CLUSTER", "SETSLOT", slot, "NODE", target)
    for _, p in ipairs(lab.lab():masters()) do
        lab.node(p):command("CLUSTER", "SETSLOT", slot, "NODE", target)
    end
end

local function slots_of(db, port)
    for _, n in ipairs(db:nodes()) do
        if n.addr == "127.0.0.1:" .. port then return n.slots end
    end
    return 0
end

t.run(function()
    for _, p in ipairs(lab.lab():masters()) do lab.node(p):flushall() end
    local db = redis.cluster { nodes = lab.seeds, timeout = 5000, refresh_interval = 600000 }

    -- MOVED: the slot of {m} moves with its key while the client's map still names the old
    -- owner.
    local slot = redis.slot("{m}")
    local a = lab.slot_owner(slot)
    local b = other_master(a)
    t.eq(db:set("{m}1", "one"), "OK", "set before the move")
    begin_move(slot, a, b)
    finish_move(slot, a, b)
    t.eq(lab.node(b):get("{m}1"), "one", "the key is on the new owner")
    local moved0 = db.stats().moved
    t.eq(db:get("{m}1"), "one", "a read after the move follows MOVED")
    t.eq(db:set("{m}2", "two"), "OK", "a write after the move")
    t.eq(lab.node(b):get("{m}2"), "two", "the write went to the new owner")
    local st = db.stats()
    t.ok(st.moved >= moved0 + 1, "MOVED counted: " .. st.moved)
    t.ok(st.moved <= moved0 + 2, "the map was updated at once (not one MOVED per command)")

    -- A pipeline and a transaction sent on a stale map: moved again, back to a.
    begin_move(slot, b, a)
    finish_move(slot, b, a)
    local res = db:pipeline({ { "set", "x:1", 1 }, { "incr", "{m}1n" }, { "get", "{m}1" },
        { "incr", "{m}1n" }, { "get", "x:1" } }, {})
    t.eq(res[2].out, 1, "pipeline: redirected incr")
    t.eq(res[3].out, "one", "pipeline: redirected get")
    t.eq(res[4].out, 2, "pipeline: the redirected commands kept their order")
    t.eq(res[5].out, "1", "pipeline: the others")
    begin_move(slot, a, b)
    finish_move(slot, a, b)
    local v = db:transaction(function(tx)
        tx:incr("{m}tx")
        tx:incr("{m}tx")
    end)
    t.eq(v[2], 2, "the transaction ran whole on the new owner")
    t.eq(lab.node(b):get("{m}tx"), "2", "exactly once")

    -- ASK: {s} is being migrated from a to b; one of its keys is already on b.
    local s2 = redis.slot("{s}")
    local from = lab.slot_owner(s2)
    local to = other_master(from)
    t.eq(db:set("{s}moved", "m"), "OK", "set")
    t.eq(db:set("{s}stays", "s"), "OK", "set")
    local before = slots_of(db, from)
    begin_move(s2, from, to)
    migrate_key("{s}moved", from, to)
    local ask0 = db.stats().ask
    t.eq(db:get("{s}moved"), "m", "a migrated key is read through ASK")
    t.eq(db:get("{s}stays"), "s", "a key not migrated yet is read on the source")
    t.eq(db:set("{s}new", "n"), "OK", "a new key during the migration")
    t.eq(lab.node(to):command("CLUSTER", "COUNTKEYSINSLOT", s2), 2,
        "the new key went to the target")
    local ask1 = db.stats().ask
    t.ok(ask1 >= ask0 + 2, "ASK counted: " .. ask1 - ask0)
    t.eq(slots_of(db, from), before, "ASK did not change the map")
    local r = db:pipeline({ { "get", "{s}moved" }, { "get", "{s}stays" } }, {})
    t.eq(r[1].out, "m", "pipeline through ASK")
    t.eq(r[2].out, "s", "pipeline beside ASK")
    -- A multi-key command whose keys are split between the two nodes: the source answers
    -- TRYAGAIN until the migration ends; the client tries again within the command's timeout.
    local try0 = db.stats().tryagain
    skynet.fork(function()
        skynet.sleep(30)
        finish_move(s2, from, to)
    end)
    local both = db:mget("{s}moved", "{s}stays")
    t.eq(both[1], "m", "MGET after TRYAGAIN")
    t.eq(both[2], "s", "MGET after TRYAGAIN")
    t.ok(db.stats().tryagain > try0, "TRYAGAIN was answered and retried")
    t.eq(db:get("{s}stays"), "s", "after the migration: MOVED")
    t.eq(db:get("{s}new"), "n", "after the migration")
    db:disconnect()
end)
