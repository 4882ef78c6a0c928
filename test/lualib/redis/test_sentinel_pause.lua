-- The master stopped (SIGSTOP) past down-after, then resumed: the client follows the failover,
-- and once the sentinels have switched no command of it reaches the old master, neither while
-- it still believes it is the master after SIGCONT nor once it is demoted.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local sentinel = require "skynet.db.redis.sentinel"

t.run(function()
    local db = lab.client { name = "sentinel-writer", timeout = 3000, hold_timeout = 15000 }
    local m0 = lab.master_port()
    local old = "127.0.0.1:" .. m0
    local w = lab.writer(db, "counter", 8, 1)
    t.wait_until(function() return w.acked > 200 end, 500, "writes before the pause")
    lab.lab():stop(m0)
    t.wait_until(function() return lab.master_port() ~= m0 end, 1500, "the sentinels' switch")
    local m1 = lab.master_port()
    t.wait_until(function() return sentinel.status(db).target == "127.0.0.1:" .. m1 end, 500,
        "the client on the new master")
    local switched = #sentinel.status(db).stats.connects
    local before = w.acked
    t.wait_until(function() return w.acked > before + 100 end, 500, "writes go on")
    lab.lab():cont(m0)
    -- The old master comes back believing it is the master until a sentinel demotes it.
    local admin = lab.direct(m0)
    local function ours()
        local n = 0
        for line in admin:client("LIST"):gmatch("[^\n]+") do
            if line:find("name=sentinel-writer ", 1, true) then n = n + 1 end
        end
        return n
    end
    -- The demotion kills the normal connections (ours included): a failed check is repeated.
    t.wait_until(function()
        local ok, n = pcall(ours)
        if ok then t.eq(n, 0, "connections of the client on the old master") end
        local got, role = pcall(admin.role, admin)
        return got and role[1] == "slave"
    end, 3000, "the old master demoted")
    t.wait_until(function()
        local ok, n = pcall(ours)
        if ok then t.eq(n, 0, "connections of the client on the demoted master") end
        return ok
    end, 500, "a last look at the demoted master")
    before = w.acked
    t.wait_until(function() return w.acked > before + 100 end, 500, "writes go on")
    w.stop()
    local st = sentinel.status(db)
    for i = switched, #st.stats.connects do
        t.ok(st.stats.connects[i].target ~= old, "no connection to the old master after the switch")
    end
    for _, e in ipairs(w.errors) do skynet.error("writer error: " .. e) end
    t.eq(w.certain, 0, "no command that was not sent failed")
    t.ok(w.ambiguous <= 8, "only commands in flight at the pause failed: " .. w.ambiguous)
    local final = tonumber(lab.direct(m1):get("counter"))
    skynet.error(string.format("SIGSTOP: %d acked, %d kept, %d ambiguous", w.acked, final, w.ambiguous))
    t.ok(final >= w.acked, string.format("no acknowledged write lost: %d acked, %d kept", w.acked, final))
    db:disconnect()
end, 6000)
