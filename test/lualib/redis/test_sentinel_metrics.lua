-- Sentinel's metrics and the "sentinel" board through a real failover (run under
-- with_sentinel): the current-master gauge moves from the old address (0) to the new (1), one
-- failover is counted, the master client's held time grows, and the board shows the topology and
-- the failover's timeline, from its start to the switch and the release of the writes, in time
-- order.
local skynet = require "skynet"
local metrics = require "skynet.metrics"
local t = require "tlib"
local lab = require "sentinel_lab"
local sentinel = require "skynet.db.redis.sentinel"
local m = require "metrics_lib"

-- The entry of `event` in a failover timeline, or nil.
local function has(timeline, event)
    return select(2, lab.event(timeline, event))
end

t.run(function()
    local db = lab.client { name = "sm", hold_timeout = 15000 }
    local m0 = "127.0.0.1:" .. lab.master_port()
    local M = { master = lab.name }
    for i = 1, 20 do db:set("k", i) end
    t.ok(m.value("skyhive_redis_commands_total", { client = "sm", role = "master" }) >= 20,
        "the master connection's commands")
    t.wait_until(function()
        return m.value("skyhive_sentinel_master", { master = lab.name, address = m0 }) == 1
    end, 300, "the master gauge")
    t.eq(m.value("skyhive_sentinel_failovers_total", M), 0, "no failover yet")
    local e = metrics.board("sentinel")[lab.name]
    t.ok(e, "the group is on the board")
    t.eq(e.master, m0, "its master")
    t.eq(#e.sentinels, #lab.sentinels, "its sentinels")
    t.eq(#e.last_failover, 0, "no failover yet")

    local w = lab.writer(db, "counter", 4, 1)
    t.wait_until(function() return w.acked > 50 end, 500, "writes before the failover")
    local started = skynet.time() * 1000
    local s = lab.direct(lab.sentinel_ports[#lab.sentinel_ports])
    t.eq(s:sentinel("failover", lab.name), "OK", "SENTINEL FAILOVER")
    t.wait_until(function() return "127.0.0.1:" .. lab.master_port() ~= m0 end, 1500,
        "the sentinels' switch")
    local m1 = "127.0.0.1:" .. lab.master_port()
    t.wait_until(function() return sentinel.status(db).target == m1 end, 500,
        "the client on the new master")
    local before = w.acked
    t.wait_until(function() return w.acked > before + 50 end, 500, "writes go on")
    w.stop()

    t.eq(m.value("skyhive_sentinel_failovers_total", M), 1, "one failover seen")
    t.eq(m.value("skyhive_sentinel_master", { master = lab.name, address = m0 }), 0, "old: 0")
    t.eq(m.value("skyhive_sentinel_master", { master = lab.name, address = m1 }), 1, "new: 1")
    local held = m.value("skyhive_sentinel_write_hold_seconds_total", M)
    t.ok(held > 0 and held < 15, "writes were held for a while: " .. held .. " s")

    t.wait_until(function()
        local x = metrics.board("sentinel")[lab.name]
        return x and x.master == m1 and has(x.last_failover, "writes-released")
    end, 500, "the board's new master and the end of the hold")
    e = metrics.board("sentinel")[lab.name]
    local tl = e.last_failover
    for _, name in ipairs { "+try-failover", "+switch-master", "writes-held", "master-changed",
        "writes-released" } do
        t.ok(has(tl, name), "the timeline has " .. name)
    end
    t.eq(has(tl, "+switch-master").detail:match("(%S+ %S+)$"), (m1:gsub(":", " ")),
        "the switch names the new master")
    t.eq(has(tl, "master-changed").detail, m0 .. " -> " .. m1, "the watcher's change")
    local shown = {}
    for i, x in ipairs(tl) do shown[i] = string.format("%+d ms %s", x.at - tl[1].at, x.event) end
    skynet.error("failover timeline: " .. table.concat(shown, ", "))
    for i = 2, #tl do t.ok(tl[i].at >= tl[i - 1].at, "in time order") end
    t.ok(tl[1].at >= started - 60000 and tl[#tl].at <= skynet.time() * 1000 + 1,
        "times in ms of the wall clock")
    for _, w_ in ipairs(w.errors) do skynet.error("writer error: " .. w_) end
    db:disconnect()
    local clean, complaints = m.promtool()
    t.ok(clean, "promtool check metrics: " .. complaints)
end, 6000)
