-- skynet.db.redis.lock when the server misbehaves: SCRIPT FLUSH while held, an acquire whose
-- reply is lost recognises its own token, a stalled server makes renewal give up before the
-- deadline ("unavailable"), a restart that loses the key makes it "lost". Run under redis_lab
-- (SKYHIVE_TEST_LAB_PORT stops, continues and restarts the server).
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local lab_port = assert(tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT"), "SKYHIVE_TEST_LAB_PORT")

t.run(function()
    local lab = redis.connect { port = lab_port, timeout = 20000 }
    local db = redis.connect { port = port, timeout = 1000, backoff_min = 10, backoff_max = 50 }
    local admin = redis.connect { port = port }

    -- SCRIPT FLUSH while held: extend and release load their scripts again.
    local f = assert(lock.acquire(db, "flush", { ttl = 5000 }))
    t.eq(admin:script("FLUSH"), "OK", "flush")
    t.eq(f:extend(6000), true, "extend after SCRIPT FLUSH")
    admin:script("FLUSH")
    t.eq(f:release(), true, "release after SCRIPT FLUSH")
    t.eq(db:exists("flush"), false, "released")
    admin:script("FLUSH")
    local f2 = assert(lock.acquire(db, "flush", { ttl = 5000, fencing = true }))
    f2:release()

    -- A lost reply: the server stops after the acquire was written; the client times out and
    -- tries again with the same token. Once the server runs again the first try takes the lock
    -- and a later one recognises it: one acquisition, one fence.
    local fence_before = tonumber(admin:get("lostreply:fence")) or 0
    local slow = redis.connect { port = port, timeout = 150, backoff_min = 10, backoff_max = 50 }
    lab:stop()
    local lease, err
    skynet.fork(function()
        lease, err = lock.acquire(slow, "lostreply", { ttl = 5000, wait = 5000, fencing = true,
            retry = { base = 20, max = 50 } })
    end)
    skynet.sleep(40)  -- the first try and a few retries time out against the stopped server
    t.eq(lease, nil, "no lease while the server is stopped")
    lab:cont()
    t.wait_until(function() return lease or err end, 600, "the acquire completes")
    t.ok(lease, "acquired: " .. tostring(err))
    t.eq(admin:get("lostreply"), lease.token, "the key holds the retried acquire's token")
    t.eq(lease.fence, fence_before + 1, "one fence was issued, not one per try")
    t.eq(tonumber(admin:get("lostreply:fence")), fence_before + 1, "counter")
    t.eq(lease:release(), true, "release")
    slow:disconnect()

    -- A stalled server: renewal cannot reach it; on_lost("unavailable") fires before the
    -- deadline, and the lease is no longer valid.
    local stalled = redis.connect { port = port, timeout = 100, backoff_min = 10, backoff_max = 50 }
    local lost, lost_valid, lost_remaining
    local s = assert(lock.acquire(stalled, "stall", { ttl = 2000, renew = true,
        on_lost = function(l, why)
            lost = why
            lost_remaining = (l.deadline - skynet.hpc()) // 1000000
            lost_valid = l:valid()
        end }))
    lab:stop()
    t.wait_until(function() return lost end, 500, "on_lost")
    t.eq(lost, "unavailable", "why")
    t.ok(lost_remaining > 0, "fired " .. lost_remaining .. " ms before the deadline")
    t.eq(lost_valid, false, "not valid once given up")
    t.eq(s:remaining(), 0, "nothing remains")
    lab:cont()
    stalled:disconnect()
    t.wait_until(function() return pcall(db.ping, db) end, 500, "db answers again")

    -- The server restarts without persistence while the lock is held: the renewal finds the
    -- key gone: on_lost("lost") before the deadline, and release says "lost".
    local lost2, lost2_remaining
    local r = assert(lock.acquire(db, "restart", { ttl = 1500, renew = true, fencing = true,
        on_lost = function(l, why)
            lost2 = why
            lost2_remaining = (l.deadline - skynet.hpc()) // 1000000
        end }))
    lab:restart()
    t.wait_until(function() return lost2 end, 300, "on_lost after the restart")
    t.eq(lost2, "lost", "why")
    t.ok(lost2_remaining > 0, "fired " .. lost2_remaining .. " ms before the deadline")
    t.ok(not r:valid(), "not valid")
    t.eq(select(2, r:release()), "lost", "release of a lost lease")
    -- Without renewal the holder learns it at release.
    local r2 = assert(lock.acquire(db, "restart2", { ttl = 5000 }))
    lab:restart()
    t.wait_until(function() return pcall(db.ping, db) end, 500, "db answers again")
    t.ok(r2:valid(), "the lease cannot know yet")
    t.eq(select(2, r2:extend(5000)), "lost", "extend finds it lost")
    t.eq(select(2, r2:release()), "lost", "and so does release")
    -- The fence counter was lost with the restart: documented; fenced writes of the old run
    -- are refused by what the resource kept (nothing here, the data went too).
end)
