-- Lease renewal for skynet.db.redis.lock: one timer per service renews every lease that asked
-- for it, each at a third of its ttl after its last confirmed renewal, and tops up once each
-- lease that a hand-over granted for less than its ttl (top_up) if it is still held a third of
-- the way through that grant.
--
-- A lease given to add() has: renew_fn(lease) -> pttl ms, or nil and "lost" / "unavailable"
-- (yields); ttl (ms); deadline (skynet.hpc() ns after which it must be taken as expired);
-- lost (nil while held); on_lost (optional function(lease, why)); noted_renewal() and
-- noted_loss(why) (for its metrics and the lock board; they do not yield).
--
-- Invariants:
--   * at most one renewal of a lease is in flight;
--   * remove() takes effect at once: a renewal still in flight cannot revive a removed lease,
--     so no renewal outlives a release;
--   * a lease whose renewals keep failing is given up (on_lost "unavailable" or "lost") a guard
--     margin before its deadline, so the holder hears of it while the lock is still its own;
--     only a service that did not run at all (a paused process) finds it past the deadline
--     ("expired").
--
-- Thread: the owning service (module state is per Lua state); add/remove do not yield.
local skynet = require "skynet"

local hpc, fork, sleep, wakeup = skynet.hpc, skynet.fork, skynet.sleep, skynet.wakeup
local pairs, next, pcall, max, min = pairs, next, pcall, math.max, math.min

local MS = 1000000
local TICK = 10 * MS  -- the timer wheel's resolution

local renew = {}

local leases = {}      -- lease -> true while it is renewed
local topups = {}      -- lease -> hpc() time its one top-up is due
local running = false  -- the timer loop exists
local sleeping = nil   -- the loop's wakeup token while it sleeps
local planned = math.huge  -- hpc() time the sleeping loop wakes by itself

-- How long before the deadline a failing lease is given up: enough for the loss to be noticed
-- (a few timer ticks) and small beside the period its last grant or renewal set (a hand-over's
-- grant, shorter than the ttl, until its first extend: a tenth of the ttl could put the guard
-- before the grant's start and give the lease up before that extend could answer).
local function guard_ns(lease)
    return max(3 * TICK, min(lease.ttl, lease.span or lease.ttl) * MS // 10)
end

local function give_up(lease, why)
    leases[lease] = nil
    lease.lost = why
    lease:noted_loss(why)
    local cb = lease.on_lost
    if cb then
        fork(function()
            local ok, err = pcall(cb, lease, why)
            if not ok then skynet.error("lock " .. lease.key .. ": on_lost raised: " .. tostring(err)) end
        end)
    end
end

local function renew_one(lease)
    local t0 = hpc()
    local pttl, why = lease.renew_fn(lease)
    lease.renewing = false
    if not leases[lease] then return end  -- released or given up meanwhile
    if hpc() >= lease.deadline then
        -- The service did not run until after the deadline (a paused process): whatever the
        -- reply, the lease may have been someone else's meanwhile.
        give_up(lease, "expired")
    elseif pttl then
        lease:confirmed(t0, pttl)
        lease.next_renew = t0 + lease.ttl * MS // 3
        lease:noted_renewal()
    elseif why == "lost" then
        give_up(lease, "lost")
    else
        -- Redis did not answer: try again soon; the guard gives up in time.
        lease.next_renew = t0 + min(lease.ttl * MS // 10, 100 * MS)
    end
    if sleeping then wakeup(sleeping) end
end

-- The one extend of a lease granted for less than its ttl. A failure leaves the lease as it
-- was granted (its deadline says how long it is certainly held); extend counts a loss.
local function top_up_one(lease)
    if lease.released or lease.lost then return end
    local ok, err = pcall(lease.extend, lease, lease.ttl)
    if not ok then skynet.error("lock " .. lease.key .. ": top-up raised: " .. tostring(err)) end
end

local function loop()
    while next(leases) or next(topups) do
        local now = hpc()
        local wake = math.huge
        for lease, due in pairs(topups) do
            if now >= due then
                topups[lease] = nil
                fork(top_up_one, lease)
            else
                wake = min(wake, due)
            end
        end
        for lease in pairs(leases) do
            local guard = lease.deadline - guard_ns(lease)
            if now >= lease.deadline then
                give_up(lease, "expired")
            elseif now >= guard then
                give_up(lease, "unavailable")
            else
                if not lease.renewing and now >= lease.next_renew then
                    lease.renewing = true
                    fork(renew_one, lease)
                end
                if lease.renewing then
                    wake = min(wake, guard)
                else
                    wake = min(wake, lease.next_renew, guard)
                end
            end
        end
        if not next(leases) and not next(topups) then break end
        local cs = max(1, (wake - now + TICK - 1) // TICK)
        local token = {}
        sleeping = token
        planned = now + cs * TICK
        sleep(cs, token)
        sleeping = nil
        planned = math.huge
    end
    running = false
end

-- Makes the loop run, or wake now when it would sleep past `due` (default: always).
local function start(due)
    if not running then
        running = true
        fork(loop)
    elseif sleeping and (not due or due < planned) then
        wakeup(sleeping)
    end
end

-- Starts renewing the lease (its first renewal a third of its ttl from now).
function renew.add(lease)
    lease.next_renew = hpc() + lease.ttl * MS // 3
    leases[lease] = true
    start()
end

-- The lease was granted for grant_ms, less than its ttl: extends it to its ttl once, a third of
-- grant_ms from now, if it is still held then. A holder done sooner sends nothing.
function renew.top_up(lease, grant_ms)
    local due = hpc() + grant_ms * MS // 3
    topups[lease] = due
    -- A loop that wakes before then finds it: no new timer per hand-over.
    start(due)
end

-- Stops renewing (and topping up) the lease, at once and for good.
function renew.remove(lease)
    leases[lease] = nil
    topups[lease] = nil
end

-- The renewal period changed (lease:extend): the loop recomputes its wake-up.
function renew.reschedule(lease)
    if leases[lease] then
        lease.next_renew = hpc() + lease.ttl * MS // 3
        if sleeping then wakeup(sleeping) end
    end
end

return renew
