-- Fault: a node that answers garbage (with_cluster's GARBAGE: a listener that answers anything
-- with a line that is not RESP).
--   1. As the only seed: redis.cluster fails, naming the node and what it did.
--   2. As the first of the seeds: the client starts from the others and never lists it.
--   3. Named by the cluster itself: a master announces the garbage node's port
--      (cluster-announce-port), so the slot map and redirections point its slots there. Under
--      ~1 kHz of INCRs from 60 coroutines (one key each), the commands of that shard fail within
--      their timeout with an error that names the garbage node and its malformed reply; the
--      other shards go on untouched; once the master announces its own port again, every key is
--      written again.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"
local fault = require "cluster_fault"

local format = string.format
local TIMEOUT = 3000

t.run(function()
    local sh = fault.shard(2)
    local ctl, victim, on_victim, elsewhere = sh.ctl, sh.victim, sh.on_victim, sh.elsewhere
    local g = ctl:garbage()
    local gaddr = "127.0.0.1:" .. g

    -- 1. Only the garbage node to start from.
    local err = t.raises({ "redis cluster " .. gaddr, gaddr, "no slot map" }, redis.cluster,
        { nodes = { gaddr }, timeout = TIMEOUT })
    skynet.error("FIGURES garbage seed alone: " .. err)
    t.ok(err:find("malformed RESP", 1, true),
        "the error says what the node did: " .. err)

    -- 2. The garbage node first among good seeds.
    local seeds = { gaddr }
    for _, s in ipairs(lab.seeds) do seeds[#seeds + 1] = s end
    local db = redis.cluster { nodes = seeds, timeout = TIMEOUT, refresh_interval = 300 }
    t.eq(db:set("g:1", "x"), "OK", "a command through a client whose first seed is garbage")
    t.eq(lab.listed(db, g), nil, "the garbage seed is not in the map")

    -- 3. The cluster names the garbage node as a master.
    local L = fault.load(db, { prefix = "garbage", n = 60, per = 1 })
    t.wait_until(function() return L.count >= 1000 end, 1000, "1000 INCRs first")
    t.eq(fault.summary(L).failed, 0, "failures before the garbage")
    local vc = lab.direct(victim)
    local pointed = fault.ms()
    t.eq(vc:config("set", "cluster-announce-port", g), "OK", "announce the garbage port")
    t.wait_until(function()
        local n = lab.listed(db, g)
        return n and n.slots > 0
    end, 1500, "the client's map names the garbage node")
    local listed_at = fault.ms()
    -- Let the load meet it: every key of that shard fails at least once.
    t.wait_until(function() return fault.each_failed(L, listed_at, on_victim) end, 2000, "the commands of the garbage node's slots fail")
    t.eq(vc:config("set", "cluster-announce-port", 0), "OK", "announce the node's own port")
    local restored = fault.ms()
    local resumed
    t.wait_until(function()
        resumed = fault.all_acked_after(L, restored)
        return resumed ~= nil
    end, 2000, "every key written again")
    L.stop()

    local bad = fault.summary(L, pointed, restored, on_victim)
    local other = fault.summary(L, pointed, nil, elsewhere)
    fault.report("garbage node in the map, its slots' commands", bad)
    fault.report("garbage node in the map, the other shards", other,
        format("; every key written again %.0f ms after the node announced its own port",
            resumed - restored))
    t.ok(bad.failed > 0, "the garbage node's slots failed")
    for _, f in ipairs(bad.failures) do
        t.ok(f.err:find(gaddr, 1, true), "the error names the garbage node: " .. f.err)
        t.ok(f.err:find("malformed RESP", 1, true), "and says what it did: " .. f.err)
    end
    t.eq(other.failed, 0, "the other shards go on: " .. table.concat(other.samples, "; "))
    t.ok(other.max_ms < 500, format("and never stall: longest %.0f ms", other.max_ms))
    fault.within_timeout(L, TIMEOUT, "garbage")
    -- The INCRs given to the garbage node never ran; nothing ran twice.
    local lost, extra = fault.check(L, db)
    t.eq(lost, 0, "acknowledged writes lost")
    t.eq(extra, 0, "INCRs run twice")
    t.eq(lab.listed(db, g), nil, "the garbage node left the map")
    db:disconnect()
end, 9000)
