-- Locks over a Sentinel client: a lease taken before a failover is released on the new master,
-- whose script cache is empty (NOSCRIPT, then EVAL); a lease whose key did not reach the new
-- master is reported lost by on_lost and valid() within a renewal period.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local lock = require "skynet.db.redis.lock"
local scripts = require "skynet.db.redis.lock_scripts"
local sentinel = require "skynet.db.redis.sentinel"

local function failover(db)
    local m0 = lab.master_port()
    t.eq(lab.direct(lab.sentinel_ports[1]):sentinel("failover", lab.name), "OK", "SENTINEL FAILOVER")
    t.wait_until(function() return lab.master_port() ~= m0 end, 1500, "the sentinels' switch")
    local m1 = lab.master_port()
    t.wait_until(function() return sentinel.status(db).target == "127.0.0.1:" .. m1 end, 500,
        "the client on the new master")
    return m1, m0
end

t.run(function()
    local db = lab.client { hold_timeout = 15000 }
    local kept = assert(lock.acquire(db, "room:1", { ttl = 5000, fencing = true }))
    local lost_why
    local doomed = assert(lock.acquire(db, "room:2", { ttl = 1500, renew = true,
        on_lost = function(_, why) lost_why = why end }))
    local m1, m0 = failover(db)
    local admin = lab.direct(m1)
    t.eq(admin:script("EXISTS", scripts.release.sha)[1], 0, "the new master has no lock script cached")
    t.ok(kept:valid(), "the lease is still valid")
    t.eq(kept:extend(5000), true, "extend on the new master")
    t.eq(kept:release(), true, "release on the new master")
    t.eq(admin:get("room:1"), nil, "released")
    local again = assert(lock.acquire(db, "room:1", { ttl = 5000, fencing = true }))
    t.ok(again.fence > kept.fence, "the fence counter survived the failover")
    again:release()

    -- A lock write the new master never got: renewal finds the token gone.
    admin:del("room:2")
    t.wait_until(function() return lost_why end, 200, "on_lost")
    t.eq(lost_why, "lost", "on_lost says why")
    t.ok(not doomed:valid(), "valid() says the lease is gone")
    skynet.error(string.format("locks: failover %d -> %d, lease lost as %s", m0, m1, lost_why))
    db:disconnect()
end, 6000)
