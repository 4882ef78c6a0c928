-- Fault: kill -9 of a master under ~1 kHz of INCRs from 60 coroutines whose keys spread over
-- every shard; its replica is promoted. Run under both cluster-require-full-coverage settings.
-- What the client guarantees:
--   * the dead shard's commands wait and resume on the new master: only those in flight on the
--     dropped connection fail, with the "may or may not have executed" text; none that was not
--     sent fails, and none runs twice;
--   * with full coverage "no" the other shards' commands never stall (their longest command
--     stays far below the failover time); with "yes" the servers answer CLUSTERDOWN until the
--     promotion and the client waits and retries within each command's timeout instead of
--     surfacing it;
--   * every command is answered or fails within its timeout.
-- Acknowledged INCRs lost with the dead master (asynchronous replication) are measured, not
-- asserted.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"
local fault = require "cluster_fault"

local format = string.format
local TIMEOUT = 8000

t.run(function()
    local ctl = lab.lab()
    local masters = ctl:masters()
    for _, p in ipairs(masters) do lab.direct(p):flushall() end
    local owners = fault.owners(masters[1])
    local victim = tonumber(masters[2])
    local function on_victim(key) return owners[redis.slot(key)] == victim end
    local function elsewhere(key) return owners[redis.slot(key)] ~= victim end
    fault.synced(victim)

    local db = redis.cluster { nodes = lab.seeds, timeout = TIMEOUT }
    -- One key per coroutine: a coroutine of another shard never waits behind the dead one.
    local L = fault.load(db, { prefix = "kill", n = 60, per = 1 })
    local shards = {}
    for _, key in ipairs(L.keys) do
        local p = owners[redis.slot(key)]
        shards[p] = (shards[p] or 0) + 1
    end
    for _, p in ipairs(masters) do
        t.ok((shards[tonumber(p)] or 0) >= 10, format("keys on %s: %d", p, shards[tonumber(p)] or 0))
    end
    t.wait_until(function() return L.count >= 2000 end, 1500, "2000 INCRs before the kill")
    local before = fault.summary(L)
    t.eq(before.failed, 0, "failures before the kill: " .. table.concat(before.samples, "; "))

    t.eq(ctl:kill(victim), "OK", "kill -9 " .. victim)
    local killed = fault.ms()
    -- Every key of the dead shard is written again on the promoted replica.
    local resumed
    t.wait_until(function()
        resumed = fault.all_acked_after(L, killed, on_victim)
        return resumed ~= nil
    end, 3000, "every key of the dead shard written after the kill")
    local count = L.count
    t.wait_until(function() return L.count >= count + 1000 end, 1000, "the load goes on")
    L.stop()

    -- Every command that ended after the kill (a command the failover stalled ends late).
    local dead = fault.summary(L, killed, nil, on_victim)
    local other = fault.summary(L, killed, nil, elsewhere)
    local all = fault.summary(L, killed)
    local failover_ms = resumed - killed
    local coverage = lab.full_coverage and "yes" or "no"
    fault.report(format("kill -9 (full coverage %s), dead shard", coverage),
        dead, format(", resumed %.0f ms after the kill", failover_ms))
    fault.report(format("kill -9 (full coverage %s), other shards", coverage), other)
    local longest = fault.within_timeout(L, TIMEOUT, "kill -9")
    local lost, extra = fault.check(L, db)
    local st = db.stats()
    skynet.error(format("FIGURES kill -9 (full coverage %s): %d INCRs acknowledged in all, %d "
        .. "failed (%s); %d acknowledged lost with the dead master (asynchronous replication); "
        .. "longest command %.0f ms of a %d ms timeout; client stats: moved %d, clusterdown %d, "
        .. "tryagain %d, refreshes %d, held peak %d, retried %d", coverage, fault.summary(L).acked,
        all.failed, fault.kinds(all.errors), lost, longest, TIMEOUT, st.moved, st.clusterdown,
        st.tryagain, st.refreshes, st.held_peak, st.retried))

    -- Only commands in flight on the dead connection failed, each saying so; a coroutine has
    -- at most one in flight.
    t.eq(all.failed, all.errors.ambiguous or 0,
        "every failure is a command in flight: " .. table.concat(all.samples, "; "))
    t.eq(other.failed, 0, "no command of another shard failed")
    t.ok(dead.failed <= 60, "at most one command in flight per coroutine failed: " .. dead.failed)
    t.eq(extra, 0, "no INCR ran twice")
    if not lab.full_coverage then
        -- The other shards never noticed: their longest command is a small fraction of the
        -- failover (which takes seconds: node timeout, election).
        t.ok(other.max_ms < 500 and other.max_ms < failover_ms / 4, format("the other shards "
            .. "never stall: longest %.0f ms during a %.0f ms failover", other.max_ms,
            failover_ms))
    else
        t.ok(st.clusterdown > 0, "the servers answered CLUSTERDOWN (the client retried them)")
    end
    t.eq(st.held, 0, "nothing left held")
    fault.refreshes_bounded(L, st, "kill -9")
    local serving = 0
    for _, n in ipairs(db:nodes()) do
        if n.role == "master" and n.slots > 0 then serving = serving + 1 end
        t.ok(n.addr ~= "127.0.0.1:" .. victim or n.slots == 0, "the dead master serves no slot")
    end
    t.eq(serving, 3, "three masters again (the replica promoted)")
    db:disconnect()
end, 12000)
