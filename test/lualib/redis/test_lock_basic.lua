-- skynet.db.redis.lock against a real redis-server: exclusion, expiry, refusals to non-owners,
-- extend, renewal over 10 x ttl, reentrancy counts, lock.with, fencing, pub/sub wake-ups,
-- timeouts, min_replicas without replicas. Run under redis_lab.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")

local function ms_since(t0)
    return (skynet.hpc() - t0) // 1000000
end

t.run(function()
    local db = redis.connect { port = port }

    -- Exclusion and release.
    local t0 = skynet.hpc()
    local a = assert(lock.acquire(db, "basic", { ttl = 5000 }))
    t.ok(a:valid(), "a fresh lease is valid")
    -- The lease ends ttl minus the drift margin (1% + 2 ms: 52 ms) after the acquire was sent:
    -- what has passed since then is gone from it, however long a loaded machine took.
    local left, spent = a:remaining(), ms_since(t0)
    t.ok(left <= 4948 and left >= 4948 - spent - 1,
        string.format("remaining %d ms, %d ms after the acquire was sent", left, spent))
    t.eq(db:get("basic"), a.token, "the key holds the token")
    t.eq(a.fence, nil, "no fence unless asked")
    t.eq(select(2, lock.acquire(db, "basic", { ttl = 5000 })), "contended", "a second acquire")
    t.eq(a:release(), true, "release")
    t.eq(db:exists("basic"), false, "release deleted the key")
    t.eq(select(2, a:release()), "not_owner", "a second release")
    t.eq(select(2, a:extend(1000)), "not_owner", "extend after release")
    t.ok(not a:valid() and a:remaining() == 0, "a released lease is not valid")
    local b = assert(lock.acquire(db, "basic", { ttl = 5000 }))
    t.ok(b.token ~= a.token, "every acquisition has its own token")
    b:release()

    -- Expiry: the local deadline passes no later than the server's, then a contender takes it
    -- and the old holder's release and extend fail with "expired".
    local e = assert(lock.acquire(db, "expiry", { ttl = 150 }))
    while e:remaining() > 5 do
        t.eq(db:get("expiry"), e.token, "the server holds the key while the lease is valid")
        skynet.sleep(1)
    end
    t.wait_until(function() return not e:valid() end, 100, "the lease expires locally")
    local e2 = assert(lock.acquire(db, "expiry", { ttl = 5000, wait = 1000 }))
    t.eq(select(2, e:extend(1000)), "expired", "extend after someone else took it")
    t.eq(select(2, e:release()), "expired", "release after someone else took it")
    t.eq(db:get("expiry"), e2.token, "the stale holder changed nothing")
    e2:release()

    -- Non-owners are refused, by token as well as by lease.
    local o = assert(lock.acquire(db, "owner", { ttl = 5000 }))
    t.eq(select(2, lock.release(db, "owner", "forged")), "not_owner", "release by a forged token")
    t.eq(select(2, lock.extend(db, "owner", "forged", 100000)), "not_owner", "extend by a forged token")
    t.eq(db:get("owner"), o.token, "still held by its owner")
    t.ok(db:pttl("owner") <= 5000, "the forged extend changed nothing")
    t.eq(lock.extend(db, "owner", o.token, 8000), true, "extend by the real token")
    t.eq(lock.release(db, "owner", o.token), true, "release by the real token (another service's way)")
    t.eq(select(2, o:release()), "lost", "the lease learns its key was released under it")

    -- extend
    local x = assert(lock.acquire(db, "extend", { ttl = 200 }))
    t.eq(x:extend(3000), true, "extend")
    t.ok(x:remaining() > 2900, "remaining after extend " .. x:remaining())
    t.ok(db:pttl("extend") > 2900, "the server's PTTL follows")
    t.eq(x.ttl, 3000, "extend sets the period")
    x:release()

    -- Renewal keeps the lock across 10 x ttl; a contender never gets it.
    local lost
    local r = assert(lock.acquire(db, "renew", { ttl = 400, renew = true,
        on_lost = function(_, why) lost = why end }))
    local t0 = skynet.hpc()
    local tries = 0
    while ms_since(t0) < 4000 do
        t.ok(r:valid(), "valid while renewed, after " .. ms_since(t0) .. " ms (" .. tostring(lost) .. ")")
        t.eq(select(2, lock.acquire(db, "renew", { ttl = 400 })), "contended", "contender")
        tries = tries + 1
        skynet.sleep(10)
    end
    t.ok(tries >= 20, "the contender kept trying")
    t.eq(lost, nil, "on_lost never fired")
    t.eq(r:release(), true, "release a renewed lease")
    local pttl = db:pttl("renew")
    t.eq(pttl, -2, "no renewal recreated the key")
    skynet.sleep(10)
    t.eq(db:exists("renew"), false, "no renewal outlived the release")

    -- A renewed lease that a release handed over (the default ttl of 10 s, a grant of 1 s):
    -- it is extended to its ttl at once and kept, and on_lost hears of nothing.
    local h = assert(lock.acquire(db, "renew_handed", { ttl = 5000 }))
    local handed, handed_lost = nil, {}
    skynet.fork(function()
        handed = assert(lock.acquire(db, "renew_handed", { ttl = 10000, wait = 5000,
            renew = true, on_lost = function(_, why) handed_lost[#handed_lost + 1] = why end }))
    end)
    t.wait_until(function() return db:scard("renew_handed:waiters") == 1 end, 300, "a waiter")
    h:release()
    t.wait_until(function() return handed end, 300, "the waiter got the lock")
    skynet.sleep(50)
    t.eq(#handed_lost, 0, "on_lost not called: " .. table.concat(handed_lost, ","))
    t.ok(handed:valid() and handed:remaining() > 5000, "valid, extended to its ttl: " ..
        handed:remaining() .. " ms left")
    t.ok(db:pttl("renew_handed") > 9000, "the server's PTTL is the ttl's")
    t.eq(handed:release(), true, "released")

    -- Reentrancy: the same owner re-acquires, counted; another owner waits.
    local r1 = assert(lock.acquire(db, "reent", { ttl = 5000, reentrant = true }))
    local r2 = assert(lock.acquire(db, "reent", { ttl = 5000, reentrant = true }))
    t.eq(r2, r1, "the same lease")
    t.eq(r1.count, 2, "counted twice")
    local other
    skynet.fork(function()
        other = { lock.acquire(db, "reent", { ttl = 5000, reentrant = true }) }
    end)
    t.wait_until(function() return other end, 100, "other owner")
    t.eq(other[2], "contended", "another coroutine is another owner")
    t.eq(r1:release(), true, "first release")
    t.eq(db:get("reent"), r1.token, "still held after one of two releases")
    t.eq(r1:release(), true, "second release")
    t.eq(db:exists("reent"), false, "free after the last release")
    t.eq(select(2, r1:release()), "not_owner", "one release too many")
    local mine = {}
    local r3 = assert(lock.acquire(db, "reent", { ttl = 5000, reentrant = true, owner = mine }))
    skynet.fork(function()
        other = { lock.acquire(db, "reent", { ttl = 5000, reentrant = true, owner = mine }) }
    end)
    t.wait_until(function() return other[1] ~= nil and other[1] ~= "contended" end, 100, "owner")
    t.eq(other[1], r3, "an explicit owner shared by two coroutines")
    r3:release()
    r3:release()

    -- lock.with: results through, release on error, errors by their stable string.
    local v1, v2 = lock.with(db, "with", { ttl = 5000 }, function(l)
        t.eq(db:get("with"), l.token, "held inside")
        return "one", 2
    end)
    t.eq(v1, "one", "first result")
    t.eq(v2, 2, "second result")
    t.eq(db:exists("with"), false, "released after fn")
    local err = t.raises({ "boom" }, lock.with, db, "with", { ttl = 5000 }, function()
        error("boom")
    end)
    t.ok(err:find("test_lock_basic", 1, true), "fn's own error, with its position: " .. err)
    t.eq(db:exists("with"), false, "released after fn raised")
    local held = assert(lock.acquire(db, "with", { ttl = 5000 }))
    local ok, why = pcall(lock.with, db, "with", { ttl = 5000 }, function() end)
    t.ok(not ok and why == "contended", "lock.with raises the error string: " .. tostring(why))
    held:release()

    -- Fencing: fences grow; a write with an older fence is refused; the same fence may write
    -- again; a command the server rejects raises.
    local f1 = assert(lock.acquire(db, "fence", { ttl = 5000, fencing = true }))
    f1:release()
    local f2 = assert(lock.acquire(db, "fence", { ttl = 5000, fencing = true }))
    t.ok(f2.fence > f1.fence, "fences grow")
    t.eq(lock.fenced(db, "doc", f2, "SET", "doc", "new"), "OK", "newest fence writes")
    t.eq(lock.fenced(db, "doc", f2, "SET", "doc", "newer"), "OK", "the same fence again")
    local none, stale, highest = lock.fenced(db, "doc", f1, "SET", "doc", "old")
    t.eq(none, nil, "an older fence is refused")
    t.eq(stale, "stale", "as stale")
    t.eq(highest, f2.fence, "naming the highest fence")
    t.eq(db:get("doc"), "newer", "the stale write did not land")
    t.eq(lock.fenced(db, "doc", f2.fence, "HSET", "doc2", "a", 1), 1, "by fence number")
    t.raises({ "lock.fenced HSET on doc", "WRONGTYPE" }, lock.fenced, db, "doc", f2, "HSET", "doc", "a", 1)
    t.eq(db:get("doc:fenced"), tostring(f2.fence), "the highest fence is kept per resource")
    f2:release()

    -- Waiting: a release wakes a waiter at once through pub/sub, although its polling is slow.
    local h = assert(lock.acquire(db, "wake", { ttl = 5000 }))
    local got, waited
    skynet.fork(function()
        local w0 = skynet.hpc()
        got = assert(lock.acquire(db, "wake", { ttl = 5000, wait = 5000,
            retry = { base = 2000, max = 2000, jitter = 0 } }))
        waited = skynet.hpc() - w0
    end)
    skynet.sleep(20)
    t.eq(got, nil, "the waiter waits")
    local released_at = skynet.hpc()
    h:release()
    t.wait_until(function() return got end, 300, "the waiter gets the lock")
    local lag = (skynet.hpc() - released_at) // 1000000
    t.ok(lag < 1000, "woken by the release, not by its 2 s poll: " .. lag .. " ms")
    t.ok(waited >= 190 * 1000000, "it did wait")
    got:release()

    -- A wait that runs out is "timeout", after about `wait` ms.
    local h2 = assert(lock.acquire(db, "timeout", { ttl = 5000 }))
    local w0 = skynet.hpc()
    t.eq(select(2, lock.acquire(db, "timeout", { ttl = 5000, wait = 200 })), "timeout", "timeout")
    local took = ms_since(w0)
    t.ok(took >= 200 and took < 1000, "gave up after " .. took .. " ms")
    h2:release()

    -- The holder's key expiring ends a wait without any release.
    assert(lock.acquire(db, "lapse", { ttl = 200 }))
    local l2 = assert(lock.acquire(db, "lapse", { ttl = 1000, wait = 2000 }))
    l2:release()

    -- min_replicas without replicas: not_synced, and the lock is not left behind.
    local n, nerr = lock.acquire(db, "sync", { ttl = 5000, min_replicas = 1, sync_timeout = 50 })
    t.eq(n, nil, "no lease without replicas")
    t.eq(nerr, "not_synced", "not_synced")
    t.eq(db:exists("sync"), false, "released again")
    local s0 = assert(lock.acquire(db, "sync", { ttl = 5000, min_replicas = 0 }))
    s0:release()

    -- Release channels are dropped a while after their last waiter, and the watcher
    -- connection with the last of them.
    local function clients() return select(2, db:client("LIST"):gsub("\n", "")) end
    t.ok(#db:pubsub("CHANNELS", "*:released:*") > 0, "channels still subscribed just after")
    local before = clients()
    t.wait_until(function() return #db:pubsub("CHANNELS", "*") == 0 end, 1000, "unsubscribed")
    t.wait_until(function() return clients() == before - 1 end, 300, "the watcher closed")
end)
