-- Fair locks and semaphores against a real redis-server: fair waiters acquire in arrival order,
-- dead waiters are pruned, a waiter that gives up leaves the queue; a semaphore admits `limit`
-- holders, frees the permit of a holder that expired, wakes a waiter on release. Run under
-- redis_lab.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local semaphore = require "skynet.db.redis.semaphore"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")

local function server_ms(db)
    local tm = db:time()
    return tonumber(tm[1]) * 1000 + tonumber(tm[2]) // 1000
end

t.run(function()
    local db = redis.connect { port = port }
    local other = redis.connect { port = port }  -- a second client, as another service has

    -- Arrival order: each waiter is queued before the next one starts; waiters alternate
    -- between two clients.
    local holder = assert(lock.acquire(db, "fair", { ttl = 5000, fair = true }))
    local order = {}
    local N = 5
    for i = 1, N do
        local c = i % 2 == 0 and other or db
        skynet.fork(function()
            local l = assert(lock.acquire(c, "fair", { ttl = 5000, fair = true, wait = 10000 }))
            order[#order + 1] = i
            skynet.sleep(1)
            assert(l:release())
        end)
        t.wait_until(function() return db:zcard("fair:queue") == i end, 300, "waiter " .. i .. " queued")
    end
    -- A newcomer that only tries does not jump the queue, even when the lock is free.
    holder:release()
    t.eq(select(2, lock.acquire(db, "fair", { ttl = 5000, fair = true })), "contended",
        "a fair try behind queued waiters")
    t.wait_until(function() return #order == N end, 500, "every waiter")
    t.eq(table.concat(order, ","), "1,2,3,4,5", "arrival order")
    t.eq(db:exists("fair:queue"), false, "the queue is empty again")
    t.eq(db:exists("fair:qexp"), false, "and so are the expiries")

    -- A hand-over: the release gives the lock to the queued waiter (with the next fence) and
    -- tells only its service; the grant is capped at the waiter's queue expiry (4 x retry.max
    -- = 8 s here) and topped up to its ttl when a third of that has passed (not before: a
    -- holder done sooner sends no extend).
    local g0 = assert(lock.acquire(db, "grant", { ttl = 5000, fair = true, fencing = true }))
    local g, g_remaining
    skynet.fork(function()
        g = assert(lock.acquire(other, "grant", { ttl = 10000, fair = true, wait = 5000,
            fencing = true, retry = { base = 2000, max = 2000, jitter = 0 } }))
        g_remaining = g:remaining()
    end)
    t.wait_until(function() return db:zcard("grant:queue") == 1 end, 300, "queued")
    skynet.sleep(5)  -- well inside its 2 s poll
    local released_at = skynet.hpc()
    g0:release()
    t.wait_until(function() return g end, 100, "handed over, without waiting for a poll")
    t.ok(skynet.hpc() - released_at < 1000000000, "at once")
    t.eq(g.fence, g0.fence + 1, "the next fence")
    t.eq(db:get("grant"), g.token, "the key names the new holder")
    t.ok(g_remaining <= 8000, "the lease counts from before the grant: " .. g_remaining)
    t.ok(db:pttl("grant") <= 8000, "not extended at once")
    t.wait_until(function() return db:pttl("grant") > 8000 end, 350, "topped up to its ttl")
    t.wait_until(function() return g:remaining() > 8000 end, 50, "the lease knows")
    t.eq(g:release(), true, "release the handed-over lease")
    t.eq(db:exists("grant"), false, "free")

    -- Again, now that `other` still hears its release channel from the wait above: the waiter
    -- skips the second try that a fresh subscription needs, and the hand-over still reaches it
    -- at once (a missed one would wait for the 2 s poll).
    local h0 = assert(lock.acquire(db, "grant", { ttl = 5000, fair = true, fencing = true }))
    local h
    skynet.fork(function()
        h = assert(lock.acquire(other, "grant", { ttl = 10000, fair = true, wait = 5000,
            fencing = true, retry = { base = 2000, max = 2000, jitter = 0 } }))
    end)
    t.wait_until(function() return db:zcard("grant:queue") == 1 end, 300, "queued again")
    skynet.sleep(5)
    released_at = skynet.hpc()
    h0:release()
    t.wait_until(function() return h end, 100, "handed over on the lingering subscription")
    t.ok(skynet.hpc() - released_at < 1000000000, "at once, again")
    t.eq(h.fence, h0.fence + 1, "the next fence, again")
    t.eq(h:release(), true, "release the second handed-over lease")

    -- A dead waiter (its service stopped polling) is pruned: a waiter whose expiry passed does
    -- not hold up a free lock, and one still alive at the head does until it expires.
    local now = server_ms(db)
    db:zadd("fair2:queue", 1, "ghost")
    db:zadd("fair2:qexp", now - 1, "ghost")
    local l = assert(lock.acquire(db, "fair2", { ttl = 5000, fair = true }))
    t.eq(db:zscore("fair2:queue", "ghost"), nil, "the expired ghost was pruned")
    l:release()
    now = server_ms(db)
    db:zadd("fair2:queue", 1, "sleeper")
    db:zadd("fair2:qexp", now + 300, "sleeper")
    t.eq(select(2, lock.acquire(db, "fair2", { ttl = 5000, fair = true })), "contended",
        "a live waiter ahead")
    local t0 = skynet.hpc()
    local l2 = assert(lock.acquire(db, "fair2", { ttl = 5000, fair = true, wait = 3000 }))
    local waited = (skynet.hpc() - t0) // 1000000
    t.ok(waited >= 200, "waited for the sleeper to expire: " .. waited .. " ms")
    l2:release()

    -- A fair waiter that gives up leaves the queue at once; the release then names the next.
    local h = assert(lock.acquire(db, "fair3", { ttl = 5000, fair = true }))
    local late, first
    skynet.fork(function()
        first = select(2, lock.acquire(db, "fair3", { ttl = 5000, fair = true, wait = 300 }))
    end)
    t.wait_until(function() return db:zcard("fair3:queue") == 1 end, 300, "first queued")
    skynet.fork(function()
        late = assert(lock.acquire(other, "fair3", { ttl = 5000, fair = true, wait = 5000,
            retry = { base = 2000, max = 2000, jitter = 0 } }))
    end)
    t.wait_until(function() return db:zcard("fair3:queue") == 2 end, 300, "second queued")
    t.wait_until(function() return first end, 300, "the first waiter gives up")
    t.eq(first, "timeout", "first waiter")
    t.wait_until(function() return db:zcard("fair3:queue") == 1 end, 300, "it left the queue")
    h:release()
    t.wait_until(function() return late end, 150, "the second waiter, named by the release")
    t.eq(db:exists("fair3:queue"), false, "no waiter left behind")
    late:release()

    -- Semaphore: `limit` holders, then contended; release wakes a waiter; an expired holder's
    -- permit is reclaimed; extend and release by a holder whose permit expired are refused.
    local p1 = assert(semaphore.acquire(db, "sem", 2, { ttl = 5000 }))
    local p2 = assert(semaphore.acquire(other, "sem", 2, { ttl = 5000 }))
    t.eq(semaphore.count(db, "sem"), 2, "two permits held")
    t.eq(select(2, semaphore.acquire(db, "sem", 2, { ttl = 5000 })), "contended", "a third")
    local p3
    skynet.fork(function()
        p3 = assert(semaphore.acquire(db, "sem", 2, { ttl = 5000, wait = 5000,
            retry = { base = 2000, max = 2000, jitter = 0 } }))
    end)
    skynet.sleep(10)
    t.eq(p3, nil, "waiting for a permit")
    t.eq(p1:release(), true, "release")
    t.wait_until(function() return p3 end, 100, "woken by the release, not its 2 s poll")
    t.eq(select(2, p1:release()), "not_owner", "released twice")
    p2:release()
    p3:release()
    t.eq(semaphore.count(db, "sem"), 0, "none held")

    local short = assert(semaphore.acquire(db, "sem2", 1, { ttl = 100 }))
    local next_holder = assert(semaphore.acquire(other, "sem2", 1, { ttl = 5000, wait = 2000 }))
    t.ok(not short:valid(), "the expired permit is not valid")
    t.eq(select(2, short:extend(1000)), "expired", "extend of an expired permit")
    t.eq(select(2, short:release()), "expired", "release of an expired permit")
    t.eq(semaphore.count(db, "sem2"), 1, "the new holder kept its permit")
    next_holder:release()

    -- Renewed permits outlive their ttl; semaphore.with releases on error.
    local sem_lost
    local renewed = assert(semaphore.acquire(db, "sem3", 1, { ttl = 400, renew = true,
        on_lost = function(_, why) sem_lost = why end }))
    skynet.sleep(150)
    t.ok(renewed:valid(), "renewed permit still valid after 3 x ttl: " .. tostring(sem_lost))
    t.eq(select(2, semaphore.acquire(other, "sem3", 1, { ttl = 400 })), "contended", "still held")
    renewed:release()
    t.raises({ "inside" }, semaphore.with, db, "sem3", 1, { ttl = 1000 }, function() error("inside") end)
    t.eq(semaphore.count(db, "sem3"), 0, "released after the error")

    -- Joining, fair: a coroutine whose release granted the lock to a waiter of this node asks
    -- that holder to queue it in its release instead of trying (and queueing itself) now. It is
    -- queued behind everyone queued by then, so the order stays the server's arrival order.
    local function scripts_run()
        local n = 0
        for name, calls in db:info("commandstats"):gmatch("cmdstat_(%w+):calls=(%d+)") do
            if name == "eval" or name == "evalsha" then n = n + tonumber(calls) end
        end
        return n
    end
    local SLOW = { base = 5000, max = 5000, jitter = 0 }
    local opts = { ttl = 5000, fair = true, wait = 10000, retry = SLOW }
    -- (One client for all: a service hears release notices per client.)
    local a = assert(lock.acquire(other, "fj", opts))
    local turns, held = {}, {}
    local function waiter(name, c)
        skynet.fork(function()
            local l = assert(lock.acquire(c, "fj", opts))
            turns[#turns + 1] = name
            held[name] = l
        end)
    end
    waiter("w1", other)
    t.wait_until(function() return db:zcard("fj:queue") == 1 end, 300, "w1 queued")
    waiter("w2", other)
    t.wait_until(function() return db:zcard("fj:queue") == 2 end, 300, "w2 queued")
    skynet.sleep(5) -- both asleep, the service's channel subscribed
    t.eq(a:release(), true, "release: granted to w1")
    t.wait_until(function() return held.w1 end, 100, "w1 holds it")
    local before = scripts_run()
    waiter("a", other) -- joins w1
    skynet.sleep(5)
    t.eq(scripts_run() - before, 0, "the joining acquire ran no script")
    t.eq(db:zcard("fj:queue"), 1, "only w2 is queued")
    t.eq(held.w1:release(), true, "w1 releases: a is queued, w2 granted")
    t.wait_until(function() return held.w2 end, 100, "w2 holds it")
    t.eq(scripts_run() - before, 1, "w1's release was the only script")
    t.eq(db:zcard("fj:queue"), 1, "a is queued")
    t.eq(held.a, nil, "a waits behind w2")
    t.eq(held.w2:release(), true, "w2 releases")
    t.wait_until(function() return held.a end, 100, "a holds it, long before its 5 s poll")
    t.eq(table.concat(turns, " "), "w1 w2 a", "in the order they came")
    t.eq(held.a:release(), true, "a releases")
    t.eq(db:exists("fj"), false, "free")
    t.eq(db:exists("fj:queue"), false, "nobody queued")

    -- Waiters with different retry settings: a waiter polling every 5 s (its place kept for
    -- 20 s) keeps it when one polling every 200 ms (1 s) tries and gives up: the short one's
    -- tries do not shorten the queue's life below the long one's.
    local mh = assert(lock.acquire(db, "mixed", { ttl = 10000, fair = true }))
    local slow
    skynet.fork(function()
        slow = assert(lock.acquire(other, "mixed", { ttl = 5000, wait = 10000, fair = true,
            retry = { base = 5000, max = 5000, jitter = 0 } }))
    end)
    t.wait_until(function() return db:zcard("mixed:queue") == 1 end, 300, "the slow waiter queued")
    t.eq(select(2, lock.acquire(db, "mixed", { ttl = 5000, wait = 300, fair = true })), "timeout",
        "a quick waiter gives up")
    skynet.sleep(150)
    t.eq(db:zcard("mixed:queue"), 1, "1.5 s later the slow waiter is still queued")
    t.ok(db:pttl("mixed:queue") > 10000, "for its own queue ttl: " .. db:pttl("mixed:queue"))
    mh:release()
    t.wait_until(function() return slow end, 100, "and takes the lock at the release")
    slow:release()
end)
