-- Every sentinel down, then back: a client made meanwhile holds its commands and connects once
-- a sentinel answers; its watcher subscribes again, so a later failover is followed.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local sentinel = require "skynet.db.redis.sentinel"

t.run(function()
    for _, p in ipairs(lab.sentinel_ports) do lab.lab():kill(p) end
    local db = lab.client { hold_timeout = 30000 }
    t.eq(sentinel.status(db).state, "down", "no sentinel: not connected")
    t.ok(sentinel.status(db).cause:find("Connection refused", 1, true), sentinel.status(db).cause)
    local held
    skynet.fork(function() held = { pcall(db.incr, db, "held") } end)
    skynet.sleep(50)
    t.eq(held, nil, "the command waits")
    for _, p in ipairs(lab.sentinel_ports) do lab.lab():start(p) end
    t.wait_until(function() return held end, 1000, "the held command")
    t.ok(held[1], tostring(held[2]))
    t.eq(held[2], 1, "sent once")
    t.eq(lab.lab():ready(2, 20000), "OK", "the sentinels know each other again")

    local m0 = lab.master_port()
    local w = lab.writer(db, "counter", 4, 1)
    t.wait_until(function() return w.acked > 100 end, 500, "writes before the fault")
    lab.lab():kill(m0)
    t.wait_until(function() return lab.master_port() ~= m0 end, 1500, "the sentinels' switch")
    local m1 = lab.master_port()
    t.wait_until(function() return sentinel.status(db).target == "127.0.0.1:" .. m1 end, 500,
        "the client on the new master")
    local before = w.acked
    t.wait_until(function() return w.acked > before + 50 end, 500, "writes go on")
    w.stop()
    t.eq(w.certain, 0, "no command that was not sent failed")
    local final = tonumber(lab.direct(m1):get("counter"))
    t.ok(final >= w.acked, string.format("no acknowledged write lost: %d acked, %d kept", w.acked, final))
    db:disconnect()
end, 9000)
