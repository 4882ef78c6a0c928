-- The locks' metrics and the "locks" board against a real server (run under redis_lab): an
-- acquisition, a contended wait another service's release ends, a refusal, a timed-out wait, a
-- loss found by renewal and a fencing refusal show exactly as skyhive_lock_* and as the board's
-- entries (holder, token, fencing, waiters), which follow each acquire, release and loss.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local semaphore = require "skynet.db.redis.semaphore"
local board = require "skynet.db.redis.lock_board"
local metrics = require "skynet.metrics"
local core = require "skynet.core"
local t = require "tlib"
local m = require "metrics_lib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")

local function entry(key)
    board.sync()
    return metrics.board("locks")[key]
end

local LOCK = { kind = "lock" }
local function failed(reason) return m.value("skyhive_lock_failures_total", { kind = "lock", reason = reason }) end

t.run(function()
    local db = redis.connect { port = port }
    local me = skynet.address(skynet.self())

    -- An acquisition: counted, and on the board with its holder, token and fence.
    local a = assert(lock.acquire(db, "m:room", { ttl = 5000, fencing = true }))
    t.eq(m.value("skyhive_lock_acquisitions_total", LOCK), 1, "one acquisition")
    local e = entry("m:room")
    t.ok(e, "the lock is on the board")
    t.eq(e.holder, me, "held by this service")
    t.eq(e.token, a.token, "its token")
    t.eq(e.fencing, a.fence, "its fence")
    t.eq(e.waiters, 0, "nobody waits")
    t.eq(e.kind, "lock", "a lock")
    t.ok(math.abs(e.since - skynet.time() * 1000) < 5000 and e.expires - e.since == 5000,
        "since and expires in ms")

    -- A refusal without a wait.
    t.eq(select(2, lock.acquire(db, "m:room", { ttl = 5000 })), "contended", "refused")
    t.eq(failed("contended"), 1, "a contended failure")
    t.eq((m.count("skyhive_lock_wait_seconds", LOCK)), 0, "no wait without wait")

    -- A contended wait: a waiter in this service shows on the board; the release hands over.
    local got, got_at
    local forked = skynet.hpc()
    skynet.fork(function()
        got = assert(lock.acquire(db, "m:room", { ttl = 5000, wait = 5000 }))
        got_at = skynet.hpc()
    end)
    t.wait_until(function() local x = entry("m:room"); return x and x.waiters == 1 end, 300,
        "one waiter on the board")
    local seen = skynet.hpc()
    skynet.sleep(5)
    local released = skynet.hpc()
    a:release()
    t.wait_until(function() return got end, 300, "the waiter got the lock")
    local n, sum = m.count("skyhive_lock_wait_seconds", LOCK)
    t.eq(n, 1, "one contended wait")
    t.ok(sum >= (released - seen) / 1e9 and sum <= (got_at - forked) / 1e9,
        string.format("it waited %.3f s: from before %.3f s to after %.3f s", sum,
            (released - seen) / 1e9, (got_at - forked) / 1e9))
    t.eq(m.value("skyhive_lock_acquisitions_total", LOCK), 2, "two acquisitions")
    e = entry("m:room")
    t.eq(e.token, got.token, "the board shows the new holder")
    t.eq(e.waiters, 0, "nobody waits any more")
    t.eq(e.fencing, nil, "no fence asked this time")

    -- A timed-out wait: counted as timeout, and timed too.
    t.eq(select(2, lock.acquire(db, "m:room", { ttl = 5000, wait = 50 })), "timeout", "timeout")
    t.eq(failed("timeout"), 1, "a timeout failure")
    t.eq((m.count("skyhive_lock_wait_seconds", LOCK)), 2, "two contended waits")
    got:release()
    t.eq(entry("m:room"), nil, "released: off the board")

    -- A loss: the key goes behind the holder's back; the renewal finds it lost.
    local lost
    local r = assert(lock.acquire(db, "m:lost", { ttl = 300, renew = true,
        on_lost = function(_, why) lost = why end }))
    t.ok(entry("m:lost"), "the renewed lock is on the board")
    db:del("m:lost")
    t.wait_until(function() return lost end, 300, "the loss")
    t.eq(lost, "lost", "lost while valid")
    t.eq(m.value("skyhive_lock_losses_total", { kind = "lock", reason = "lost" }), 1, "one loss")
    t.eq(entry("m:lost"), nil, "a lost lock is off the board")
    t.eq(select(2, r:release()), "lost", "its release")
    t.eq(m.value("skyhive_lock_losses_total", { kind = "lock", reason = "lost" }), 1,
        "the loss counted once")

    -- A fencing refusal: the older fence's write is refused.
    local f1 = assert(lock.acquire(db, "m:fence", { ttl = 100, fencing = true }))
    t.wait_until(function() return not f1:valid() end, 100, "the first lease expires")
    local f2 = assert(lock.acquire(db, "m:fence", { ttl = 5000, fencing = true, wait = 1000 }))
    t.ok(lock.fenced(db, "m:res", f2, "SET", "m:res", "new"), "the newer fence writes")
    t.eq(select(2, lock.fenced(db, "m:res", f1, "SET", "m:res", "old")), "stale", "stale")
    t.eq(m.value("skyhive_lock_fencing_refusals_total", nil), 1, "one fencing refusal")
    t.eq(select(2, f1:release()), "expired", "the old lease expired")
    t.eq(m.value("skyhive_lock_losses_total", { kind = "lock", reason = "expired" }), 1,
        "found expired at its release")
    f2:release()

    -- A semaphore: its permits are on the board under its key.
    local p1 = assert(semaphore.acquire(db, "m:sem", 2, { ttl = 5000 }))
    local p2 = assert(semaphore.acquire(db, "m:sem", 2, { ttl = 5000 }))
    e = entry("m:sem")
    t.eq(e.holders, 2, "two permits held")
    t.eq(e.kind, "semaphore", "a semaphore")
    t.eq(m.value("skyhive_lock_acquisitions_total", { kind = "semaphore" }), 2, "two permits")
    p1:release()
    t.eq(entry("m:sem").holders, 1, "one left")
    p2:release()
    t.eq(entry("m:sem"), nil, "none left")
    -- Batched: a burst of lock events reaches the board as one message per flush period, not
    -- one per event, and the board follows without a sync.
    board.sync()
    local lockboard = skynet.uniqueservice("lockboard")
    local handled = core.info(lockboard).messages
    local l
    for i = 1, 20 do
        l = assert(lock.acquire(db, "m:burst", { ttl = 5000 }))
        if i == 20 then break end
        l:release()
    end
    t.wait_until(function()
        local x = metrics.board("locks")["m:burst"]
        return x and x.holders == 1
    end, 300, "the burst's last holder on the board, no sync asked")
    local burst = core.info(lockboard).messages - handled
    t.ok(burst <= 3, string.format("40 lock events took %d messages to the board", burst))
    t.eq(metrics.board("locks")["m:burst"].token, l.token, "the last holder's token")
    l:release()
    t.eq(entry("m:burst"), nil, "the burst's lock is off the board")

    -- Leases and waits that begin and end within one window are not sent at all: the board
    -- never had them. The window is made long, so that no flush falls inside the burst, and the
    -- batches are seen as they leave (the lockboard's own sweep timer makes its message count
    -- move by itself).
    local batches = {}
    local real_send = skynet.send
    skynet.send = function(h, proto, cmd, list, ...)
        if h == lockboard and cmd == "batch" then batches[#batches + 1] = list end
        return real_send(h, proto, cmd, list, ...)
    end
    board.FLUSH_CS = 1000
    -- A flush timer set by the events above (a sync does not cancel it) fires before the burst.
    skynet.sleep(20)
    for _ = 1, 20 do assert(lock.acquire(db, "m:short", { ttl = 5000 })):release() end
    board.sync()
    t.eq(#batches, 0, "20 leases taken and given back within one window: no batch")
    local held = assert(lock.acquire(db, "m:kept", { ttl = 5000 }))
    assert(lock.acquire(db, "m:short", { ttl = 5000 })):release()
    board.sync()
    board.FLUSH_CS = 10
    skynet.send = real_send
    t.eq(#batches, 1, "one lease held at the flush: one batch")
    t.eq(#batches[1], 1, "with that lease's change alone")
    t.eq(batches[1][1].key, "m:kept", "the kept lease")
    t.eq(entry("m:short"), nil, "never on the board")
    t.eq(entry("m:kept").token, held.token, "the lease held at the flush is on the board")
    held:release()
    t.eq(entry("m:kept"), nil, "and its end is sent")

    db:disconnect()
    local clean, complaints = m.promtool()
    t.ok(clean, "promtool check metrics: " .. complaints)
end)
