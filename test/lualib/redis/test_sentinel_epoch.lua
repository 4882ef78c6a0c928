-- A sentinel that missed a failover still names the old master, which (after a graceful
-- failover) answers ROLE as a master for seconds more: a client that believed the first
-- sentinel it reached would write there and lose it all. The answer with the newer config
-- epoch wins.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local sentinel = require "skynet.db.redis.sentinel"

t.run(function()
    local s1 = lab.sentinel_ports[1]
    local m0 = lab.master_port()
    lab.lab():kill(s1)
    t.eq(lab.direct(lab.sentinel_ports[2]):sentinel("failover", lab.name), "OK", "SENTINEL FAILOVER")
    t.wait_until(function() return lab.master_port() ~= m0 end, 1500, "the sentinels' switch")
    local m1 = lab.master_port()
    -- s1 comes back with its first configuration: the old master, epoch 0, until a hello of
    -- another sentinel reaches it (within 2 s); restarted until it is seen stale.
    local stale
    for _ = 1, 10 do
        lab.lab():start(s1)
        local c = lab.direct(s1)
        stale = tonumber(c:sentinel("get-master-addr-by-name", lab.name)[2]) == m0
        c:disconnect()
        if stale then break end
        lab.lab():kill(s1)
    end
    t.ok(stale, "the restarted sentinel names the old master")
    t.eq(lab.direct(m0):role()[1], "master", "which still answers ROLE as a master")
    local db = lab.client { sentinels = { "127.0.0.1:" .. s1, lab.sentinels[2] } }
    local st = sentinel.status(db)
    t.eq(st.target, "127.0.0.1:" .. m1, "the client took the newer configuration")
    t.ok(st.epoch >= 1, "its config epoch: " .. tostring(st.epoch))
    t.eq(db:incr("after"), 1, "writes go to the new master")
    t.eq(lab.direct(m1):get("after"), "1", "on the new master")
    skynet.error(string.format("epoch: stale sentinel named %d, client on %d (epoch %d)", m0, m1, st.epoch))
    db:disconnect()
end, 6000)
