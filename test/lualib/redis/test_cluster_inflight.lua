-- The "may or may not have executed" rule on a cluster, made deterministic: a master is paused
-- (SIGSTOP) with an INCR in flight on the client's connection to it, then killed (kill -9). The
-- INCR in flight fails saying it may or may not have executed, and is not sent again; an INCR
-- issued after the kill is held, not failed, and runs on the promoted replica; one whose timeout
-- is shorter than the failover fails at its timeout saying it did not run.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"

t.run(function()
    local ctl = lab.lab()
    local key = "f:1"
    local victim = tonumber(ctl:owner(redis.slot(key)))
    local db = redis.cluster { nodes = lab.seeds, timeout = 15000 }
    local quick = redis.cluster { nodes = lab.seeds, timeout = 300 }
    t.eq(db:set(key, 0), "OK", "set")
    lab.synced(victim)
    local conn
    for _, n in pairs(db.conn.map.nodes) do
        if n.addr == "127.0.0.1:" .. victim then conn = n.conn end
    end
    t.ok(conn and conn.state == "ready", "the client's connection to the victim")

    t.eq(ctl:pause(victim), "OK", "SIGSTOP")
    local first, second = {}, {}
    skynet.fork(function()
        first.ok, first.v = pcall(db.incr, db, key)
        first.done = true
    end)
    t.wait_until(function() return conn.qtail >= conn.qhead end, 100, "the INCR in flight")
    t.eq(ctl:kill(victim), "OK", "kill -9")
    t.wait_until(function() return first.done end, 500, "the INCR in flight answered")
    t.eq(first.ok, false, "the INCR in flight failed")
    t.ok(tostring(first.v):find("may or may not have executed", 1, true), first.v)
    skynet.error("in flight: " .. tostring(first.v))

    -- A command whose timeout is shorter than the failover gives up, held, within it.
    local t0 = skynet.now()
    local text = t.raises({ "gave up after 300 ms, the command did not run",
        "127.0.0.1:" .. victim }, quick.incr, quick, key)
    t.ok(skynet.now() - t0 < 60, "within its timeout: " .. (skynet.now() - t0) * 10 .. " ms")
    skynet.error("held past its timeout: " .. text)
    quick:disconnect()

    skynet.fork(function()
        second.ok, second.v = pcall(db.incr, db, key)
        second.done = true
    end)
    local saw_held = false
    t.wait_until(function()
        if db.stats().held > 0 then saw_held = true end
        return second.done
    end, 1500, "the INCR issued after the kill")
    t.ok(saw_held, "it was held while the shard had no master")
    t.eq(second.ok, true, "held until the promotion, then run: " .. tostring(second.v))
    t.eq(second.v, 1, "the INCR in flight was not sent again (the stopped master never ran it)")
    t.eq(db:get(key), "1", "on the new master")
    db:disconnect()
end, 6000)
