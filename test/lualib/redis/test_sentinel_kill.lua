-- kill -9 of the master under load: the client follows the new master the sentinels elect;
-- commands issued meanwhile wait and then succeed there, only those in flight may fail (saying
-- they may or may not have executed), and no acknowledged write is lost.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local sentinel = require "skynet.db.redis.sentinel"

t.run(function()
    local db = lab.client { timeout = 5000, hold_timeout = 15000 }
    local m0 = lab.master_port()
    t.eq(sentinel.status(db).target, "127.0.0.1:" .. m0, "connected to the master")
    t.eq(db:set("k", "v"), "OK", "set")
    local w = lab.writer(db, "counter", 8, 1)
    -- Through db.retry: SETs marked safe to send again, so even those in flight at the kill
    -- are not failed but sent to the new master.
    local safe = { n = 0, errors = {}, running = true, live = 2 }
    for j = 1, 2 do
        skynet.fork(function()
            while safe.running do
                local ok, err = pcall(db.retry.set, db.retry, "safe" .. j, safe.n + 1)
                if ok then safe.n = safe.n + 1 else safe.errors[#safe.errors + 1] = err end
                skynet.sleep(1)
            end
            safe.live = safe.live - 1
        end)
    end
    t.wait_until(function() return w.acked > 200 end, 500, "writes before the fault")
    w.mark()
    lab.lab():kill(m0)
    t.wait_until(function() return w.first_ok_after_mark and lab.master_port() ~= m0 end, 1500,
        "writes on the new master")
    local m1 = lab.master_port()
    t.ok(m1 ~= m0, "a new master")
    t.wait_until(function() return w.acked > 0 and sentinel.status(db).target == "127.0.0.1:" .. m1 end,
        500, "the client on the new master")
    local before = w.acked
    t.wait_until(function() return w.acked > before + 100 end, 500, "writes go on")
    w.stop()
    safe.running = false
    t.wait_until(function() return safe.live == 0 end, 500, "the safe writers")
    for _, e in ipairs(safe.errors) do skynet.error("safe writer error: " .. e) end
    t.eq(#safe.errors, 0, "no command marked safe to retry failed")
    t.ok(safe.n > 20, "safe writes went on: " .. safe.n)
    for _, e in ipairs(w.errors) do skynet.error("writer error: " .. e) end
    t.eq(w.certain, 0, "no command that was not sent failed")
    t.ok(w.ambiguous <= 8, "at most one command in flight per writer failed: " .. w.ambiguous)
    local final = tonumber(lab.direct(m1):get("counter"))
    t.ok(final >= w.acked, string.format("no acknowledged write lost: %d acked, %d kept", w.acked, final))
    t.ok(final <= w.acked + w.ambiguous, "nothing counted twice")
    skynet.error(string.format("kill -9: %d acked, %d kept, %d ambiguous, %d switches", w.acked,
        final, w.ambiguous, sentinel.status(db).stats.switches))
    db:disconnect()
end, 6000)
