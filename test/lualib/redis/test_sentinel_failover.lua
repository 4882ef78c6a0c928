-- SENTINEL FAILOVER under load: the client stops writing to the old master as soon as the
-- failover starts (the old master would take writes for seconds more and lose them when it is
-- made a replica), holds the commands, and sends them to the new master: no command fails and
-- no acknowledged write is lost. The failover is asked of the last sentinel, so only the
-- watcher's subscription to that one hears it start.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local sentinel = require "skynet.db.redis.sentinel"

t.run(function()
    local db = lab.client { hold_timeout = 15000 }
    local m0 = lab.master_port()
    t.eq(db:blpop("q", 0.1), nil, "a blocking command (its pooled connection stays idle)")
    local w = lab.writer(db, "counter", 8, 1)
    t.wait_until(function() return w.acked > 200 end, 500, "writes before the failover")
    local s = lab.direct(lab.sentinel_ports[#lab.sentinel_ports])
    t.eq(s:sentinel("failover", lab.name), "OK", "SENTINEL FAILOVER")
    w.mark()
    t.wait_until(function() return lab.master_port() ~= m0 end, 1500, "the sentinels' switch")
    local m1 = lab.master_port()
    t.wait_until(function() return sentinel.status(db).target == "127.0.0.1:" .. m1 end, 500,
        "the client on the new master")
    local before = w.acked
    t.wait_until(function() return w.acked > before + 200 end, 500, "writes go on")
    w.stop()
    db:rpush("q", "x")
    local got = db:blpop("q", 1)
    t.ok(type(got) == "table" and got[1] == "q" and got[2] == "x", "blocking commands go to the new master: " .. tostring(got and got[2]))
    for _, e in ipairs(w.errors) do skynet.error("writer error: " .. e) end
    t.eq(#w.errors, 0, "no command failed")
    local st = sentinel.status(db)
    t.ok(st.stats.freezes >= 1, "writes were held while the failover ran")
    local final = tonumber(lab.direct(m1):get("counter"))
    skynet.error(string.format("SENTINEL FAILOVER: %d acked, %d kept on the new master, held peak %d",
        w.acked, final, st.stats.held_peak))
    t.eq(final, w.acked, "every acknowledged write is on the new master, none twice")
    db:disconnect()
end, 6000)
