-- Fault: CLUSTERDOWN while a shard has no master. Under ~1 kHz of INCRs from 60 coroutines (one
-- key each, spread over every shard) a master and its only replica are killed (kill -9); after
-- the cluster has marked them failed and the commands have waited out their timeout, both are
-- started again. Run under both cluster-require-full-coverage settings. What the client
-- guarantees:
--   * the dead shard's commands fail within their timeout with a clear error that names the
--     node (or, for those in flight, says they may or may not have executed);
--   * with full coverage "no" the other shards' commands go on untouched; with "yes" the
--     servers refuse them (CLUSTERDOWN) and the client waits and retries each until its
--     timeout, then fails it saying the cluster is down and the command did not run;
--   * when the nodes come back, every key is written again; nothing runs twice, and the other
--     shards lose no acknowledged write;
--   * every command is answered or fails within its timeout.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"
local fault = require "cluster_fault"

local format = string.format
local TIMEOUT = 3000

-- Whether the node on `observer` flags the node on `port` as failed (CLUSTER NODES).
local function flagged_failed(observer, port)
    local c = lab.direct(observer)
    local ok, nodes = pcall(c.cluster, c, "nodes")
    c:disconnect()
    if not ok then return false end
    for line in nodes:gmatch("[^\n]+") do
        local addr, flags = line:match("^%S+ (%S+) (%S+)")
        if addr and addr:match("^[^:]*:(%d+)") == tostring(port) then
            for f in flags:gmatch("[^,]+") do
                if f == "fail" then return true end
            end
        end
    end
    return false
end

t.run(function()
    local sh = fault.shard(3)
    local ctl, victim, on_victim, elsewhere = sh.ctl, sh.victim, sh.on_victim, sh.elsewhere
    local observer = tonumber(sh.masters[1])
    local replica = tonumber(ctl:replicas(victim)[1])
    local vaddr = "127.0.0.1:" .. victim
    local coverage = lab.full_coverage and "yes" or "no"

    local db = redis.cluster { nodes = lab.seeds, timeout = TIMEOUT }
    local L = fault.load(db, { prefix = "down", n = 60, per = 1 })
    t.wait_until(function() return L.count >= 1000 end, 1000, "1000 INCRs before the outage")
    t.eq(fault.summary(L).failed, 0, "failures before the outage")

    local downed = fault.ms()
    t.eq(ctl:kill(victim), "OK", "kill -9 the master " .. victim)
    t.eq(ctl:kill(replica), "OK", "kill -9 its replica " .. replica)
    t.wait_until(function() return flagged_failed(observer, victim) end, 3000,
        "the cluster flags the dead master as failed")
    local flagged = fault.ms()
    -- The dead shard's commands have given up, and with full coverage so have the others,
    -- refused by the servers while the cluster is down.
    t.wait_until(function()
        return fault.each_failed(L, downed, on_victim)
            and (not lab.full_coverage or fault.each_failed(L, flagged, elsewhere))
    end, 3000, "the commands of the shard without a master fail")
    local outage_end = fault.ms()

    t.eq(ctl:restart(victim), "OK", "restart " .. victim)
    t.eq(ctl:restart(replica), "OK", "restart " .. replica)
    t.eq(ctl:waitok(), "OK", "the cluster is ok again")
    local back = fault.ms()
    local resumed
    t.wait_until(function()
        resumed = fault.all_acked_after(L, back)
        return resumed ~= nil
    end, 2000, "every key written again after the nodes came back")
    L.stop()

    local dead = fault.summary(L, downed, outage_end, on_victim)
    local other = fault.summary(L, downed, nil, elsewhere)
    fault.report(format("no master for a shard (full coverage %s), its commands", coverage),
        dead)
    fault.report(format("no master for a shard (full coverage %s), the other shards", coverage),
        other, format(", every key written again %.0f ms after the cluster said ok",
            resumed - back))
    local longest = fault.within_timeout(L, TIMEOUT, "no master")
    local st = db.stats()
    skynet.error(format("FIGURES no master (full coverage %s): longest command %.0f ms of a %d ms "
        .. "timeout; client stats: moved %d, clusterdown %d, refreshes %d, held peak %d, "
        .. "retried %d", coverage, longest, TIMEOUT, st.moved, st.clusterdown, st.refreshes,
        st.held_peak, st.retried))

    -- The dead shard: clear errors, each naming the node or saying it may have run.
    t.ok(dead.failed > 0, "the dead shard's commands failed")
    for _, f in ipairs(dead.failures) do
        local clear = f.err:find("may or may not have executed", 1, true)
            or (f.err:find(vaddr, 1, true) and f.err:find("did not run", 1, true))
        t.ok(clear, "a clear error for the dead shard's " .. f.key .. ": " .. f.err)
        t.ok(f.err:find("INCR", 1, true), "the error names the command: " .. f.err)
    end
    if lab.full_coverage then
        -- Refused while the cluster was down: each waited its whole timeout, retrying, and
        -- then said so; none surfaced a bare CLUSTERDOWN reply.
        t.ok(other.failed > 0, "with full coverage the other shards' commands are refused")
        for _, f in ipairs(other.failures) do
            t.ok(f.err:find("the cluster answered CLUSTERDOWN", 1, true)
                and f.err:find("did not run", 1, true), "a clear CLUSTERDOWN error: " .. f.err)
            t.ok(f.ms >= TIMEOUT - 50, format("it waited its timeout: %.0f ms", f.ms))
        end
        t.ok(st.clusterdown > 0, "CLUSTERDOWN replies were retried")
    else
        t.eq(other.failed, 0, "the other shards' commands go on: "
            .. table.concat(other.samples, "; "))
        t.ok(other.max_ms < 500, format("and never stall: longest %.0f ms", other.max_ms))
    end
    -- Nothing ran twice anywhere; the other shards kept every acknowledged write (the dead
    -- shard's data went with its two nodes: no persistence in this cluster).
    local lost, extra = fault.check(L, db, elsewhere)
    t.eq(lost, 0, "acknowledged writes lost on the other shards")
    t.eq(extra, 0, "INCRs run twice on the other shards")
    t.eq(st.held, 0, "nothing left held")
    fault.refreshes_bounded(L, st, "no master")
    db:disconnect()
end, 12000)
