-- Fault: the cluster's planned topology changes under ~1 kHz of INCRs from 50 coroutines (20
-- keys each, spread over every shard), one after the other on one cluster:
--   1. CLUSTER FAILOVER on a replica (graceful);
--   2. 1,000 slots resharded between two masters with redis-cli --cluster reshard (over 20,000
--      keys loaded beforehand, so that keys really move while the load writes);
--   3. a node added (an empty master) and 500 slots resharded to it, then its slots resharded
--      away and the node removed.
-- What the client guarantees in each: no error reaches a caller, no acknowledged write is lost
-- and none runs twice, every command is answered within its timeout; in 3 the client uses the
-- new node (db:nodes() shows it serving slots, and the keys of those slots are written there)
-- and forgets it once removed.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"
local fault = require "cluster_fault"

local format = string.format
local TIMEOUT = 5000

-- Runs fn(L, start) under a fresh load; then stops it and asserts the scenario's guarantees.
-- Returns the load and the summary of its commands from `start` on.
local function under_load(db, what, fn)
    local L = fault.load(db, { prefix = what, n = 50, per = 20 })
    t.wait_until(function() return L.count >= 1000 end, 1000, what .. ": 1000 INCRs first")
    local calm = fault.summary(L)
    local start = fault.ms()
    fn(L, start)
    local count = L.count
    t.wait_until(function() return L.count >= count + 500 end, 1000, what .. ": the load goes on")
    L.stop()
    local s = fault.summary(L, start)
    local lost, extra = fault.check(L, db)
    fault.report(what, s, format("; %d acknowledged lost, %d run twice; p99 %.1f ms (before: "
        .. "p99 %.1f ms)", lost, extra, fault.p99(L, start), fault.p99(L, nil, start)))
    t.eq(calm.failed, 0, what .. ": failures before the change")
    t.eq(s.failed, 0, what .. ": no error surfaced: " .. table.concat(s.samples, "; "))
    t.eq(lost, 0, what .. ": acknowledged writes lost")
    t.eq(extra, 0, what .. ": INCRs run twice")
    fault.within_timeout(L, TIMEOUT, what)
    return L, s
end

t.run(function()
    local ctl = lab.lab()
    local masters = ctl:masters()
    for _, p in ipairs(masters) do lab.direct(p):flushall() end
    -- A removed node that the client knew only as a replica (Redis 7 makes a master that gave
    -- away its last slot a replica of the node that took it) has no connection of the client's
    -- whose drop would tell it: the periodic refresh does, made frequent here.
    local db = redis.cluster { nodes = lab.seeds, timeout = TIMEOUT, refresh_interval = 1000 }
    local stats0 = db.stats()

    -- 1. A graceful failover of the first master to its replica.
    local old = tonumber(masters[1])
    local promoted = tonumber(ctl:replicas(old)[1])
    lab.synced(old)
    under_load(db, "CLUSTER FAILOVER", function()
        t.eq(ctl:failover(promoted), "OK", "CLUSTER FAILOVER on " .. promoted)
    end)
    t.eq(lab.listed(db, promoted).role, "master", "the client sees the promoted replica as master")

    -- 2. 1,000 slots from one master to another, keys and all.
    masters = ctl:masters()
    local from, to = tonumber(masters[1]), tonumber(masters[2])
    local batch = {}
    for i = 1, 20000 do
        batch[#batch + 1] = { "set", "pre:" .. i, i }
        if #batch == 1000 then
            db:pipeline(batch)
            batch = {}
        end
    end
    local before_from, before_to = ctl:slots(from), ctl:slots(to)
    local st = db.stats()
    under_load(db, "reshard 1000 slots", function()
        t.eq(ctl:reshard(from, to, 1000), "OK", "reshard 1000 slots " .. from .. " -> " .. to)
    end)
    t.wait_until(function()
        return ctl:slots(from) == before_from - 1000 and ctl:slots(to) == before_to + 1000
    end, 500, "1000 slots moved")
    local st2 = db.stats()
    skynet.error(format("FIGURES reshard 1000 slots: client stats: moved %d, ask %d, tryagain %d, "
        .. "refreshes %d, retried %d", st2.moved - st.moved, st2.ask - st.ask,
        st2.tryagain - st.tryagain, st2.refreshes - st.refreshes, st2.retried - st.retried))
    t.ok(st2.moved + st2.ask > st.moved + st.ask, "the load met the moved slots")
    -- Every key loaded before is still there, read through the client.
    for i = 1, 20000, 1000 do
        local cmds = {}
        for j = i, i + 999 do cmds[#cmds + 1] = { "get", "pre:" .. j } end
        local got = db:pipeline(cmds, {})
        for j = 1, 1000 do
            t.eq(got[j].out, tostring(i + j - 1), "pre:" .. (i + j - 1) .. " after the reshard")
        end
    end

    -- 3. A node added, slots resharded to it; then its slots resharded away and the node
    -- removed.
    local added
    under_load(db, "node added", function(L, start)
        added = ctl:addnode()
        t.ok(added > 0, "a node added: " .. tostring(added))
        t.eq(ctl:reshard(to, added, 500), "OK", "reshard 500 slots to the new node")
        local done = fault.ms()
        -- (The node the harness asks may learn the last slots' owner by gossip.)
        t.wait_until(function() return ctl:slots(added) == 500 end, 500,
            "the new node owns 500 slots")
        local owners = fault.owners(added)
        local function on_added(key) return owners[redis.slot(key)] == added end
        -- A key of those slots acknowledged after the reshard ran on the new node (anywhere
        -- else it gets MOVED).
        t.wait_until(function() return fault.all_acked_after(L, done, on_added) ~= nil end,
            1000, "the client writes the new node's keys there")
        -- The map names it for the slots the load met (MOVED); the others follow with the
        -- next refresh.
        t.wait_until(function()
            local n = lab.listed(db, added)
            return n and n.role == "master" and n.slots > 0
        end, 1000, "db:nodes() lists the new node as a master with slots")
        local c = lab.direct(added)
        t.ok(c:dbsize() > 0, "keys live on the new node")
        c:disconnect()
        t.ok(lab.listed(db, added).connected, "the client is connected to the new node")
    end)
    under_load(db, "node removed", function()
        t.eq(ctl:reshard(added, to, 500), "OK", "reshard the new node's slots away")
        t.eq(ctl:delnode(added), "OK", "remove the node")
        t.wait_until(function() return lab.listed(db, added) == nil end, 500,
            "the client forgets the removed node")
    end)
    local final = db.stats()
    skynet.error(format("FIGURES topology changes in all: client stats: moved %d, ask %d, "
        .. "tryagain %d, clusterdown %d, refreshes %d, held peak %d, retried %d",
        final.moved - stats0.moved, final.ask - stats0.ask, final.tryagain - stats0.tryagain,
        final.clusterdown - stats0.clusterdown, final.refreshes - stats0.refreshes,
        final.held_peak, final.retried - stats0.retried))
    t.eq(final.held, 0, "nothing left held")
    db:disconnect()
end, 18000)
