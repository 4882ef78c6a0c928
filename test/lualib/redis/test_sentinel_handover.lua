-- SENTINEL FAILOVER with writers that never pause: the client holds from the leader's
-- +selected-slave (not from the failover's first event), confirms with WAIT what the old master
-- took before, and writes again as soon as the chosen replica answers ROLE as master, before
-- the sentinels announce +switch-master. No write may be acknowledged by the old master once
-- the chosen replica stopped replicating from it: such a write would be missing on the new
-- master, and its INCR reply would repeat a value the new master hands out again, so every
-- acknowledged INCR must have returned a distinct value, all of them kept.
local skynet = require "skynet"
local metrics = require "skynet.metrics"
local t = require "tlib"
local lab = require "sentinel_lab"
local sentinel = require "skynet.db.redis.sentinel"

t.run(function()
    local db = lab.client { hold_timeout = 15000 }
    local m0 = lab.master_port()
    local acked, values, dups, errors, running, live = 0, {}, 0, {}, true, 0
    for _ = 1, 8 do
        live = live + 1
        skynet.fork(function()
            while running do
                local ok, v = pcall(db.incr, db, "handover")
                if ok then
                    acked = acked + 1
                    if values[v] then dups = dups + 1 end
                    values[v] = true
                else
                    errors[#errors + 1] = v
                end
            end
            live = live - 1
        end)
    end
    t.wait_until(function() return acked > 500 end, 500, "writes before the failover")
    local s = lab.direct(lab.sentinel_ports[#lab.sentinel_ports])
    t.eq(s:sentinel("failover", lab.name), "OK", "SENTINEL FAILOVER")
    t.wait_until(function() return lab.master_port() ~= m0 end, 1500, "the sentinels' switch")
    local m1 = lab.master_port()
    t.wait_until(function() return sentinel.status(db).target == "127.0.0.1:" .. m1 end, 500,
        "the client on the new master")
    local before = acked
    t.wait_until(function() return acked > before + 500 end, 500, "writes go on")
    running = false
    while live > 0 do skynet.sleep(1) end
    for _, e in ipairs(errors) do skynet.error("writer error: " .. e) end
    t.eq(#errors, 0, "no command failed")
    local final = tonumber(lab.direct(m1):get("handover"))
    skynet.error(string.format("handover: %d acknowledged, %d on the new master, %d repeated values",
        acked, final, dups))
    t.eq(dups, 0, "no INCR reply repeated a value (none acknowledged by a detached master)")
    t.eq(final, acked, "every acknowledged write is on the new master, none twice")
    for v = 1, final do
        if not values[v] then
            t.ok(false, "acknowledged values are 1.." .. final .. ": " .. v .. " is missing")
            break
        end
    end

    local st = sentinel.status(db)
    t.ok(st.stats.freezes >= 1, "writes were held")
    t.eq(st.stats.confirm_wanted, 2, "the hold's WAIT asked for both replicas")
    t.ok(st.stats.confirmed >= 1, "the hold's WAIT was answered: " .. tostring(st.stats.confirmed))
    local tl
    t.wait_until(function()
        local e = metrics.board("sentinel")[lab.name]
        tl = e and e.last_failover
        return tl and lab.event(tl, "+switch-master") and lab.event(tl, "writes-released")
    end, 500, "the failover's timeline")
    local shown = {}
    for i, x in ipairs(tl) do shown[i] = string.format("%+d ms %s", x.at - tl[1].at, x.event) end
    skynet.error("handover timeline: " .. table.concat(shown, ", "))
    local selected, held = lab.event(tl, "+selected-slave"), lab.event(tl, "writes-held")
    t.ok(selected and held and held > selected, "the hold began at +selected-slave, not before")
    t.ok(lab.event(tl, "promoted-replica-answered"), "the chosen replica answered ROLE master")
    t.ok(lab.event(tl, "writes-released") < lab.event(tl, "+switch-master"),
        "writes were released before the sentinels announced the switch")
    db:disconnect()
end, 6000)
