-- Fault: kill -9 of a master under ~1 kHz of INCRs from 60 coroutines whose keys spread over
-- every shard, beside 12 coroutines that write back to back; the master hangs (SIGSTOP) until
-- each of those has a command unanswered, then dies; its replica is promoted. Run under both cluster-require-full-coverage
-- settings.
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
    local sh = fault.shard(2)
    local ctl, masters, owners, victim = sh.ctl, sh.masters, sh.owners, sh.victim
    local on_victim, elsewhere = sh.on_victim, sh.elsewhere
    lab.synced(victim)

    local db = redis.cluster { nodes = lab.seeds, timeout = TIMEOUT }
    -- One key per coroutine: a coroutine of another shard never waits behind the dead one.
    local L = fault.load(db, { prefix = "kill", n = 60, per = 1 })
    -- And a few coroutines that write back to back, so that commands are in flight when the
    -- master dies.
    local hot = fault.load(db, { prefix = "hot", n = 12, per = 1, pace_cs = 0 })
    local shards = {}
    for _, key in ipairs(L.keys) do
        local p = owners[redis.slot(key)]
        shards[p] = (shards[p] or 0) + 1
    end
    for _, p in ipairs(masters) do
        local n = shards[tonumber(p)] or 0
        t.ok(n >= 10, format("keys on %s: %d", p, n))
    end
    t.wait_until(function() return L.count >= 2000 end, 1500, "2000 INCRs before the kill")
    local before = fault.summary(L)
    t.eq(before.failed, 0, "failures before the kill: " .. table.concat(before.samples, "; "))

    -- The master hangs first (SIGSTOP), so that the back-to-back writers of its shard each
    -- have a command sent and unanswered when it dies.
    local hot_victims = 0
    for _, key in ipairs(hot.keys) do
        if on_victim(key) then hot_victims = hot_victims + 1 end
    end
    t.ok(hot_victims > 0, "back-to-back writers on the victim: " .. hot_victims)
    t.eq(ctl:pause(victim), "OK", "SIGSTOP " .. victim)
    -- (A back-to-back writer's command takes about a millisecond; one unanswered for 100 ms
    -- went to the stopped master.)
    t.wait_until(function()
        local now = fault.ms()
        for _, key in ipairs(hot.keys) do
            if on_victim(key) and not (hot.pending[key] and now - hot.pending[key] > 100) then
                return false
            end
        end
        return true
    end, 300, "a command of each back-to-back writer of the victim unanswered")
    -- (Taken before: the client may see the connection drop before the harness answers.)
    local killed = fault.ms()
    t.eq(ctl:kill(victim), "OK", "kill -9 " .. victim)
    -- Every key of the dead shard is written again on the promoted replica.
    local resumed
    t.wait_until(function()
        resumed = fault.all_acked_after(L, killed, on_victim)
        return resumed ~= nil
    end, 3000, "every key of the dead shard written after the kill")
    local count = L.count
    t.wait_until(function() return L.count >= count + 1000 end, 1000, "the load goes on")
    L.stop()
    hot.stop()

    -- Every command that ended after the kill (a command the failover stalled ends late).
    local dead = fault.summary(L, killed, nil, on_victim)
    local other = fault.summary(L, killed, nil, elsewhere)
    local all = fault.summary(L)
    local failover_ms = resumed - killed
    local coverage = lab.full_coverage and "yes" or "no"
    fault.report(format("kill -9 (full coverage %s), dead shard", coverage),
        dead, format(", resumed %.0f ms after the kill", failover_ms))
    fault.report(format("kill -9 (full coverage %s), other shards", coverage), other)
    local hot_dead = fault.summary(hot, killed, nil, on_victim)
    local hot_other = fault.summary(hot, killed, nil, elsewhere)
    fault.report(format("kill -9 (full coverage %s), back-to-back writers of the dead shard",
        coverage), hot_dead)
    fault.report(format("kill -9 (full coverage %s), back-to-back writers of the other shards",
        coverage), hot_other)
    local longest = math.max(fault.within_timeout(L, TIMEOUT, "kill -9"),
        fault.within_timeout(hot, TIMEOUT, "kill -9, back to back"))
    local lost, extra = fault.check(L, db)
    local hot_lost, hot_extra = fault.check(hot, db)
    lost, extra = lost + hot_lost, extra + hot_extra
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
    local victims = 0
    for _, key in ipairs(L.keys) do
        if on_victim(key) then victims = victims + 1 end
    end
    t.ok(dead.failed <= victims, format("at most the command in flight of each coroutine of the "
        .. "dead shard failed: %d of %d coroutines", dead.failed, victims))
    t.eq(hot_dead.failed, hot_dead.errors.ambiguous or 0, "a back-to-back writer's failures are "
        .. "commands in flight: " .. table.concat(hot_dead.samples, "; "))
    t.eq(hot_dead.failed, hot_victims, "the command in flight of each back-to-back writer of "
        .. "the dead shard failed, and no other")
    t.eq(hot_other.failed, 0, "no back-to-back writer of another shard failed")
    other.max_ms = math.max(other.max_ms, hot_other.max_ms)
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
