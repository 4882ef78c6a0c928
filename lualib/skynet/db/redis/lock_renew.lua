-- Lease renewal for skynet.db.redis.lock: one timer per service renews every lease that asked
-- for it, each at a third of its ttl after its last confirmed renewal.
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
local running = false  -- the timer loop exists
local sleeping = nil   -- the loop's wakeup token while it sleeps

-- How long before the deadline a failing lease is given up: enough for the loss to be noticed
-- (a few timer ticks) and small beside the ttl.
local function guard_ns(lease)
    return max(3 * TICK, lease.ttl * MS // 10)
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

local function loop()
    while next(leases) do
        local now = hpc()
        local wake = math.huge
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
        if not next(leases) then break end
        local cs = max(1, (wake - now + TICK - 1) // TICK)
        local token = {}
        sleeping = token
        sleep(cs, token)
        sleeping = nil
    end
    running = false
end

-- Starts renewing the lease (its first renewal a third of its ttl from now).
function renew.add(lease)
    lease.next_renew = hpc() + lease.ttl * MS // 3
    leases[lease] = true
    if not running then
        running = true
        fork(loop)
    elseif sleeping then
        wakeup(sleeping)
    end
end

-- Stops renewing the lease, at once and for good.
function renew.remove(lease)
    leases[lease] = nil
end

-- The renewal period changed (lease:extend): the loop recomputes its wake-up.
function renew.reschedule(lease)
    if leases[lease] then
        lease.next_renew = hpc() + lease.ttl * MS // 3
        if sleeping then wakeup(sleeping) end
    end
end

return renew
