-- Non-fair locks against a real redis-server: no queue is kept; a refused waiter's token waits
-- in K:waiters and a release hands the lock to it in the same script, so the waiter makes no
-- try of its own and no racing try can take the lock from it; a waiter that gives up leaves
-- K:waiters; a waiter whose service no longer listens is skipped and the lock stays free.
-- Run under redis_lab.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local waiting = require "skynet.db.redis.lock_wait"
local core = require "skynet.core"
local t = require "tlib"
local m = require "metrics_lib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")

-- Calls of the commands in `names` the server has run so far (INFO commandstats; a script's
-- own calls count under their names).
local function calls_of(db, names)
    local n = 0
    for name, calls in db:info("commandstats"):gmatch("cmdstat_([%w|]+):calls=(%d+)") do
        if names[name] then n = n + tonumber(calls) end
    end
    return n
end

-- Scripts the server has run so far (EVAL and EVALSHA calls).
local function scripts_run(db) return calls_of(db, { eval = true, evalsha = true }) end

-- PUBLISH calls so far (a script's included).
local function publishes(db) return calls_of(db, { publish = true }) end

t.run(function()
    local db = redis.connect { port = port }
    local other = redis.connect { port = port }  -- a second client, as another service has

    -- A waiter is named in K:waiters, never queued; the release hands it the lock: one script
    -- (the release) from the release to the waiter holding it.
    -- (A release first, so that the server has the release script and EVALSHA finds it.)
    assert(assert(lock.acquire(db, "warm", { ttl = 5000 })):release())
    local h = assert(lock.acquire(db, "nf", { ttl = 5000, fencing = true }))
    local base = scripts_run(db)
    local got
    skynet.fork(function()
        got = assert(lock.acquire(other, "nf", { ttl = 5000, wait = 5000, fencing = true,
            retry = { base = 2000, max = 2000, jitter = 0 } }))
    end)
    -- Its refused try, then the one after it subscribed; then it sleeps for its 2 s poll, and
    -- only the release can wake it in time.
    t.wait_until(function() return scripts_run(db) - base == 2 end, 500, "the waiter tried twice")
    t.eq(db:scard("nf:waiters"), 1, "the waiter is named")
    t.eq(db:exists("nf:queue"), false, "no queue")
    local before = scripts_run(db)
    local released_at = skynet.hpc()
    t.eq(h:release(), true, "release")
    t.wait_until(function() return got end, 100, "handed over, without waiting for a poll")
    t.ok(skynet.hpc() - released_at < 1000000000, "at once")
    t.eq(scripts_run(db) - before, 1, "the release was the only script: the waiter made no try")
    t.eq(db:get("nf"), got.token, "the key names the new holder")
    t.eq(got.fence, h.fence + 1, "with the next fence")
    t.eq(db:exists("nf:waiters"), false, "nobody named any more")
    t.eq(got:release(), true, "release the handed-over lease")
    t.eq(db:exists("nf"), false, "free: nobody waits")

    -- A grant shorter than the waiter's ttl (capped at 4 x retry.max = 4 s here, ttl 10 s) is
    -- topped up only when a third of it has passed: a holder done sooner sends no extend. (Its
    -- 1 s poll keeps the waiter's own tries out of the count.)
    local s0 = assert(lock.acquire(db, "short", { ttl = 5000 }))
    local short
    skynet.fork(function()
        short = assert(lock.acquire(other, "short", { ttl = 10000, wait = 5000,
            retry = { base = 1000, max = 1000, jitter = 0 } }))
    end)
    t.wait_until(function() return db:scard("short:waiters") == 1 end, 300, "short: named")
    before = scripts_run(db)
    t.eq(s0:release(), true, "short: release")
    t.wait_until(function() return short end, 100, "short: handed over")
    t.ok(short:remaining() <= 4000, "short: the lease is the grant's: " .. short:remaining())
    t.eq(short:release(), true, "short: released at once")
    t.eq(scripts_run(db) - before, 2, "short: the two releases were the only scripts (no extend)")

    -- A racing try cannot take a lock handed over: the release grants it in its own script.
    local h2 = assert(lock.acquire(db, "race", { ttl = 5000 }))
    local w
    skynet.fork(function() w = assert(lock.acquire(other, "race", { ttl = 5000, wait = 5000 })) end)
    t.wait_until(function() return db:scard("race:waiters") == 1 end, 300, "named")
    h2:release()
    t.eq(select(2, lock.acquire(db, "race", { ttl = 5000 })), "contended", "a try just after")
    t.wait_until(function() return w end, 100, "the waiter holds it")
    w:release()

    -- A waiter that gives up leaves K:waiters, and a release then leaves the lock free.
    local h3 = assert(lock.acquire(db, "quit", { ttl = 5000 }))
    t.eq(select(2, lock.acquire(other, "quit", { ttl = 5000, wait = 100 })), "timeout", "gave up")
    t.wait_until(function() return db:exists("quit:waiters") == false end, 300, "left K:waiters")
    h3:release()
    t.eq(db:exists("quit"), false, "free after the release")

    -- A waiter whose service is gone (nobody hears its channel) is skipped: not granted a lock
    -- that would then sit unused for its grant.
    local h4 = assert(lock.acquire(db, "ghost", { ttl = 5000 }))
    db:sadd("ghost:waiters", "0.fffffe.gone00000000.1/5000")
    t.eq(h4:release(), true, "release")
    t.eq(db:exists("ghost"), false, "the lock is free, not granted to the ghost")
    t.eq(db:exists("ghost:waiters"), false, "and the ghost is gone from K:waiters")
    -- The same for a ghost of this node, whose grant the release would deliver itself (no
    -- notice): the script still asks whether its service listens.
    local h4b = assert(lock.acquire(db, "ghost", { ttl = 5000 }))
    db:sadd("ghost:waiters",
        string.format("0.fffffe.%s00000000.1/5000", skynet.getenv "lock_node_tag"))
    t.eq(h4b:release(), true, "release")
    t.eq(db:exists("ghost"), false, "the lock is free, not granted to this node's ghost")
    t.eq(db:exists("ghost:waiters"), false, "and that ghost is gone from K:waiters")

    -- A grant to a waiter of another node is published on its service's channel, which is how
    -- that node hears of it.
    local node = skynet.getenv "lock_node_tag"
    local far_service = string.format("0.fffffd.%s00000000", node == "0000abcd" and "0000abce"
        or "0000abcd")
    local far_token = far_service .. ".1/5000"
    local watch = redis.watch { port = port }
    watch:subscribe("foreign:released:" .. far_service)
    local h4c = assert(lock.acquire(db, "foreign", { ttl = 5000 }))
    db:sadd("foreign:waiters", far_token)
    local heard
    skynet.fork(function() heard = watch:message() end)
    t.eq(h4c:release(), true, "release")
    t.wait_until(function() return heard end, 100, "the other node's waiter hears its grant")
    t.ok(heard:find("^" .. far_token:gsub("%p", "%%%0") .. " 0 %d+%.%d+$"),
        "the grant names its token, fence and server time: " .. tostring(heard))
    t.eq(db:get("foreign"), far_token, "the key names it")
    db:del("foreign")
    watch:disconnect()

    -- Several waiters on one client: each release hands the lock on until all held it once.
    local h5 = assert(lock.acquire(db, "many", { ttl = 5000 }))
    local done, inside, overlaps = 0, false, 0
    for _ = 1, 6 do
        skynet.fork(function()
            local l = assert(lock.acquire(other, "many", { ttl = 5000, wait = 10000,
                retry = { base = 2000, max = 2000, jitter = 0 } }))
            if inside then overlaps = overlaps + 1 end
            inside = true
            skynet.sleep(1)
            inside = false
            assert(l:release())
            done = done + 1
        end)
    end
    t.wait_until(function() return db:scard("many:waiters") == 6 end, 500, "all named")
    h5:release()
    t.wait_until(function() return done == 6 end, 500, "every waiter, by hand-overs alone")
    t.eq(overlaps, 0, "one holder at a time")
    t.eq(db:exists("many"), false, "free at the end")

    -- A waiter a hand-over wakes leaves no timer behind: the backstop polls of the service's
    -- waiters share one alarm, so 40 turns of two coroutines (each wait's backstop 0.5 s away)
    -- bring no timer message per wait after them (a few come from the alarms of the waits
    -- above, superseded but still due).
    local turns, ended = 0, 0
    local POLL = { base = 500, max = 500, jitter = 0 }
    for c = 1, 2 do
        skynet.fork(function()
            for _ = 1, 20 do
                local l = assert(lock.acquire(c == 1 and db or other, "turns",
                    { ttl = 5000, wait = 5000, retry = POLL }))
                turns = turns + 1
                skynet.yield()
                assert(l:release())
            end
            ended = ended + 1
        end)
    end
    t.wait_until(function() return ended == 2 end, 500, "40 turns")
    t.eq(turns, 40, "40 acquisitions")
    local handled = core.info(skynet.self()).messages
    skynet.sleep(70)  -- past every backstop of those waits
    local late = core.info(skynet.self()).messages - handled
    t.ok(late <= 8, string.format("%d messages in the 0.7 s after the hand-overs", late))

    -- A release that grants the lock to a waiter of this node wakes it itself, and the script
    -- publishes no notice for it: counted as a "local" wake. First a waiter in this service
    -- (its poll is 5 s away, so only a release can wake it in time)...
    local function wakes(by) return m.value("skyhive_lock_wakes_total", { by = by }) or 0 end
    local SLOW = { base = 5000, max = 5000, jitter = 0 }
    local h6 = assert(lock.acquire(db, "near", { ttl = 5000 }))
    local near
    base = scripts_run(db)
    skynet.fork(function()
        near = assert(lock.acquire(other, "near", { ttl = 5000, wait = 10000, retry = SLOW }))
    end)
    t.wait_until(function() return scripts_run(db) - base == 2 end, 500, "the waiter tried twice")
    local by_local, by_notice = wakes("local"), wakes("notice")
    t.eq(h6:release(), true, "release")
    t.wait_until(function() return near end, 100, "handed over")
    skynet.sleep(10) -- the notice has come and gone
    t.eq(wakes("local") - by_local, 1, "woken by the release itself")
    t.eq(wakes("notice") - by_notice, 0, "not by the notice")
    t.eq(db:get("near"), near.token, "the key names it")
    near:release()

    -- ... then in another service of the node, which a "lockgrant" message wakes. Here the
    -- grant is made by hand as the release script makes it (the waiter's token out of
    -- K:waiters, K set to it, the next fence), and sent as a release sends it.
    local helper = skynet.newservice("helper_lock_waiter")
    local h7 = assert(lock.acquire(db, "far", { ttl = 5000, fencing = true }))
    local far
    skynet.fork(function() far = table.pack(skynet.call(helper, "lua", "acquire", "far")) end)
    t.wait_until(function() return db:scard("far:waiters") == 1 end, 500, "the helper waits")
    skynet.sleep(5) -- its second try (after SUBSCRIBE) answered: it sleeps for its 5 s poll
    local token = db:spop("far:waiters")
    t.ok(token:find("/5000f$"), "a waiter's token asks for a grant with a fence: " .. token)
    t.eq(db:get("far"), h7.token, "still held here")
    db:set("far", token, "PX", 5000)
    local fence = db:incr("far:fence")
    by_local = wakes("local")
    waiting.granted(token .. " " .. fence)
    t.wait_until(function() return far end, 100, "the helper holds it")
    t.ok(far[1] and far[3] < 1000, string.format("after %s ms", tostring(far[3])))
    t.eq(wakes("local") - by_local, 1, "woken by the message")
    t.eq(far[1], token, "the lease is the granted token")
    t.eq(far[2], fence, "with the granted fence")
    t.eq(skynet.call(helper, "lua", "release"), true, "the helper releases")
    t.eq(db:exists("far"), false, "free")

    -- A grant naming a token of another node (or of no waiter) sends nothing and wakes nobody.
    by_local = wakes("local")
    waiting.granted("0.5.0000000000000000.1/5000 7")
    waiting.granted(token .. " " .. fence) -- that waiter is done
    skynet.sleep(5)
    t.eq(wakes("local") - by_local, 0, "nobody woken")

    -- A grant to a waiter of this node publishes nothing, so no notice wakes a waiter to try:
    -- of two waiters here, the one not granted the lock stays asleep (no try of its own).
    local h8 = assert(lock.acquire(db, "twice", { ttl = 5000 }))
    local holders = {}
    for _ = 1, 2 do
        skynet.fork(function()
            local l = assert(lock.acquire(other, "twice", { ttl = 5000, wait = 10000,
                retry = SLOW }))
            holders[#holders + 1] = l
        end)
    end
    t.wait_until(function() return db:scard("twice:waiters") == 2 end, 500, "both named")
    skynet.sleep(5) -- both asleep, their watcher subscribed
    before = scripts_run(db)
    local published = publishes(db)
    t.eq(h8:release(), true, "release")
    t.wait_until(function() return #holders == 1 end, 100, "one woken by the release")
    skynet.sleep(30) -- a notice, had there been one, would have come
    t.eq(#holders, 1, "the other still waits")
    t.eq(scripts_run(db) - before, 1, "the release was the only script: nobody tried")
    t.eq(publishes(db) - published, 0, "the release published no notice")
    holders[1]:release()
    t.wait_until(function() return #holders == 2 end, 100, "the second, at the next release")
    holders[2]:release()

    -- Joining. A service whose release granted the lock to a waiter of this node does not try
    -- on its next acquire (that try could only be refused): it asks the new holder to name it
    -- in its release. Only a waiter that hears the key's channel already joins (a grant from
    -- another node would come by notice), so first each side waits once: the helper for this
    -- service's lease, then this service for the helper's.
    local hold = {}
    local function helper_acquire(key)
        hold[key] = nil
        skynet.fork(function()
            hold[key] = table.pack(skynet.call(helper, "lua", "acquire", key))
        end)
    end
    local first = assert(lock.acquire(db, "join", { ttl = 5000 }))
    helper_acquire("join")
    t.wait_until(function() return db:scard("join:waiters") == 1 end, 500, "the helper waits")
    skynet.sleep(5)
    t.eq(first:release(), true, "release: granted to the helper")
    t.wait_until(function() return hold.join end, 100, "the helper holds join")
    local mine
    local function acquire_mine()
        mine = nil
        skynet.fork(function()
            mine = assert(lock.acquire(db, "join", { ttl = 5000, wait = 10000, retry = SLOW }))
        end)
    end
    acquire_mine()
    t.wait_until(function() return db:scard("join:waiters") == 1 end, 500, "named")
    skynet.sleep(5)
    t.eq(skynet.call(helper, "lua", "release"), true, "the helper releases")
    t.wait_until(function() return mine end, 100, "granted to this service")
    -- The helper's next acquire joins this service's lease: no script of its own, not named in
    -- K:waiters, and only this service's release (which names it) brings it the lock, long
    -- before its 5 s poll.
    before = scripts_run(db)
    helper_acquire("join")
    skynet.sleep(10)
    t.eq(scripts_run(db) - before, 0, "the joining acquire ran no script")
    t.eq(db:exists("join:waiters"), false, "nor is it named in K:waiters")
    t.eq(hold.join, nil, "it waits")
    t.eq(mine:release(), true, "release")
    t.wait_until(function() return hold.join end, 100, "the release handed the lock to the joiner")
    t.eq(scripts_run(db) - before, 1, "the release was the only script")
    t.eq(db:get("join"), hold.join[1], "the key names the joiner")
    t.eq(db:get("join:fence"), tostring(hold.join[2]), "with the next fence")

    -- This service's next acquire joins the helper in turn; the helper releases first
    -- (before the join arrives nothing is held there), so it tells this service to try, which
    -- takes the free lock at once instead of at its 5 s poll.
    t.eq(skynet.call(helper, "lua", "release"), true, "the helper releases")
    local t0 = skynet.hpc()
    local again = assert(lock.acquire(db, "join", { ttl = 5000, wait = 10000, retry = SLOW }))
    t.ok(skynet.hpc() - t0 < 1000000000, "told to try, it took the free lock at once")
    -- Once more with this service's release granting it to the helper...
    helper_acquire("join")
    t.wait_until(function() return db:scard("join:waiters") == 1 end, 500, "the helper waits")
    skynet.sleep(5)
    t.eq(again:release(), true, "release: granted to the helper")
    t.wait_until(function() return hold.join end, 100, "the helper holds it")
    -- ... and a joiner that gives up before the holder's release is taken back: the release
    -- does not add it, so the lock ends free (not granted to a waiter that has gone).
    t.eq(select(2, lock.acquire(db, "join", { ttl = 5000, wait = 100, retry = SLOW })),
        "timeout", "the joiner gave up")
    skynet.sleep(5)
    t.eq(skynet.call(helper, "lua", "release"), true, "the helper releases")
    t.eq(db:exists("join"), false, "free: the joiner that left was not granted it")
    t.eq(db:exists("join:waiters"), false, "and is not named")

    -- A joiner that gives up while the holder's release (which carries it) is in flight waits
    -- for that release before its cancel, so the cancel takes back the grant that release made
    -- it. The helper's release waits 0.6 s at the server behind a WAIT; the joiner gives up
    -- after 0.3 s.
    helper_acquire("join")
    t.wait_until(function() return hold.join end, 500, "the helper holds join")
    acquire_mine()
    t.wait_until(function() return db:scard("join:waiters") == 1 end, 500, "named")
    skynet.sleep(5)
    t.eq(skynet.call(helper, "lua", "release"), true, "the helper releases")
    t.wait_until(function() return mine end, 100, "granted to this service")
    helper_acquire("join") -- it joins this service's lease
    skynet.sleep(5)
    t.eq(hold.join, nil, "the helper waits")
    t.eq(mine:release(), true, "release: granted to the helper")
    t.wait_until(function() return hold.join end, 100, "the helper holds it")
    local gave_up, released
    skynet.fork(function()
        gave_up = select(2, lock.acquire(db, "join", { ttl = 5000, wait = 300, retry = SLOW }))
    end)
    skynet.sleep(5) -- joined
    skynet.fork(function() released = skynet.call(helper, "lua", "slow_release", "join") end)
    t.wait_until(function() return gave_up end, 1000, "the joiner gave up")
    t.eq(gave_up, "timeout", "by its wait")
    t.eq(released, nil, "while the release was in flight")
    t.wait_until(function() return released end, 1500, "the release ran")
    t.eq(released, true, "released")
    -- Not after the 5 s that grant would last: the joiner's cancel follows the release.
    t.wait_until(function() return db:exists("join") == false end, 50,
        "the grant that release made the joiner was taken back by its cancel")
    t.eq(db:exists("join:waiters"), false, "nobody named")

    -- A grant whose message comes late: the releaser's service is busy for 2.2 s after its
    -- release granted the lock to a waiter of this node (ttl 1 s, polling every 2 s), so the
    -- grant expires, another client takes the lock, the waiter's poll is refused, and only then
    -- the grant reaches the waiter. It must not take that grant for a lease: the lock is the
    -- other client's.
    local holder = skynet.newservice "helper_lock_waiter"
    local late = skynet.newservice "helper_lock_waiter"
    t.ok(skynet.call(holder, "lua", "acquire", "late"), "the releaser holds the lock")
    skynet.call(late, "lua", "wait_short", "late")
    t.wait_until(function() return db:scard("late:waiters") == 1 end, 300, "the waiter is named")
    -- (Its try just after subscribing comes at once; the next one 2 s later.)
    skynet.sleep(30)
    skynet.send(holder, "lua", "release")
    skynet.send(holder, "lua", "busy")
    t.wait_until(function() return db:exists("late") == false end, 150, "the grant expired")
    local other = assert(lock.acquire(db, "late", { ttl = 10000, fencing = true }))
    local stop = skynet.now() + 400
    while skynet.now() < stop do
        local token, valid = skynet.call(late, "lua", "status")
        t.ok(not (token and valid), "the late grant is no lease while another holds the lock")
        skynet.sleep(10)
    end
    t.ok(other:valid(), "the other client still holds it")
    t.eq(db:get("late"), other.token, "the server agrees")
    other:release()
    t.wait_until(function() return skynet.call(late, "lua", "status") ~= nil end, 300,
        "the waiter takes the lock once it is free")
    -- (Its lease may read invalid already: timed from its last refused poll, up to 2 s ago,
    -- a grant of 1 s is conservative.)
    local token, _, fence = skynet.call(late, "lua", "status")
    t.eq(db:get("late"), token, "the server holds the waiter's token")
    t.ok(fence > other.fence, "with a newer fence")
end)
