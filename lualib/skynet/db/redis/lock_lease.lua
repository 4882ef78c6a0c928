-- Leases: what skynet.db.redis.lock and skynet.db.redis.semaphore hand to their holder.
--
-- A lease's validity is local and conservative: its deadline is the skynet.hpc() time taken
-- before the command that granted (or last extended) it was sent, plus the PTTL that command
-- set, minus a clock-drift margin (1% of that PTTL + 2 ms, as Redlock allows for). The server
-- cannot expire the key before that instant unless its clock runs faster than the margin.
--
-- Fields of a lease (read-only for its holder):
--   key, token   what is held and the unique token that holds it
--   fence        the fencing token (lock acquired with fencing = true), else nil
--   ttl          ms the lease lasts after each renewal or extend
-- Fields used by the library: db, ops (extend/release of the kind), deadline (hpc ns), count
-- (reentrant holds), released, lost (why it was given up), renewing, next_renew, on_lost, kind
-- ("lock", "read", "write", "semaphore": its metrics and board entry), ended (the board was
-- told it ended), counted (its loss was counted).
--
-- Thread: the owning service. extend and release yield.
local skynet = require "skynet"
local renew = require "skynet.db.redis.lock_renew"
local instr = require "skynet.db.redis.instr"
local board = require "skynet.db.redis.lock_board"

local hpc = skynet.hpc

local MS = 1000000

local lease = {}
lease.__index = lease

local M = {}

-- Drift margin in ns for a lease of pttl ms.
local function drift(pttl)
    return (pttl // 100 + 2) * MS
end

-- A new lease. `ops` has extend(lease, ms) -> pttl | nil, "lost" | "unavailable", detail and
-- release(lease) -> true | false (not held) | nil, detail. t0 is the hpc() time taken before
-- the granting command was sent, pttl what it set. Counts the acquisition and puts the lease on
-- the node's lock board.
function M.new(ops, fields, t0, pttl)
    local l = setmetatable(fields, lease)
    l.ops = ops
    l.count = 1
    l.released = false
    l.kind = l.kind or "lock"
    l:confirmed(t0, pttl)
    instr.lock(l.kind).acquired:inc()
    board.held(l.key, l.kind, l.token, pttl, l.fence)
    return l
end

-- The lease was renewed or extended: the board shows its new end.
function lease:noted_renewal()
    if not self.ended then board.renewed(self.key, self.token, self.ttl) end
end

-- The lease ended: off the board (once).
local function ended(self)
    if self.ended then return end
    self.ended = true
    board.released(self.key, self.token)
end

-- The lease is lost ("lost", "expired", "unavailable"): counted once, and off the board.
function lease:noted_loss(why)
    if not self.counted then
        self.counted = true
        instr.lock(self.kind).lost[why]:inc()
    end
    ended(self)
end

-- A command sent at t0 (hpc) set the key to expire pttl ms after it ran. `span` keeps pttl:
-- a hand-over's grant is shorter than the ttl until its first extend (lock_renew's guard).
function lease:confirmed(t0, pttl)
    self.deadline = t0 + pttl * MS - drift(pttl)
    self.span = pttl
end

-- True while the lease is certainly held: not released, not given up, and before its deadline.
function lease:valid()
    return not self.released and not self.lost and hpc() < self.deadline
end

-- Whole ms left before the deadline (0 once not valid).
function lease:remaining()
    if not self:valid() then return 0 end
    return (self.deadline - hpc()) // MS
end

-- Why a server that no longer has our token makes this lease fail: the deadline passed (the
-- holder overran or paused), or else it was lost under a still-valid lease (a restart without
-- persistence, a failover, a flush).
local function gone(self)
    if hpc() >= self.deadline then return "expired" end
    return "lost"
end

-- Makes the lease last ms (default: its ttl) from now, and renewal keep that period. Returns
-- true, or nil and "not_owner" (released), "expired", "lost" or "unavailable" (plus the
-- client's error text). A lease the renewal gave up is taken back when the server still holds
-- its token (the token is unique, so the lock was never anyone else's). Yields.
function lease:extend(ms)
    if self.released then return nil, "not_owner" end
    ms = ms or self.ttl
    assert(math.type(ms) == "integer" and ms > 0, "extend: ms must be a positive integer")
    local t0 = hpc()
    local pttl, why, detail = self.ops.extend(self, ms)
    if self.released then return nil, "not_owner" end  -- released while we waited
    if pttl then
        self:confirmed(t0, pttl)
        self.ttl = ms
        if self.lost then
            self.lost = nil
            self.counted, self.ended = nil, nil
            if self.renew then renew.add(self) end
            board.held(self.key, self.kind, self.token, ms, self.fence)
        else
            renew.reschedule(self)
            self:noted_renewal()
        end
        return true
    end
    if why == "lost" then
        why = gone(self)
        renew.remove(self)
        self.lost = self.lost or why
        self:noted_loss(self.lost)
    end
    return nil, why, detail
end

-- Gives the lease back. A reentrant lease held n times is given back by its n-th release.
-- Renewal stops before anything is sent. Returns true, or nil and "not_owner" (already
-- released), "expired" (the deadline passed and someone else took it), "lost" (it was lost
-- while still valid here) or "unavailable" (no answer: it expires by itself). Yields.
function lease:release()
    if self.released then return nil, "not_owner" end
    if self.count > 1 then
        self.count = self.count - 1
        return true
    end
    self.released = true
    renew.remove(self)
    if self.forget then self:forget() end
    local ok, detail = self.ops.release(self)
    if ok then
        ended(self)
        return true
    end
    if ok == nil then
        ended(self)
        return nil, "unavailable", detail
    end
    local why = gone(self)
    self:noted_loss(why)
    return nil, why
end

function lease:__tostring()
    return string.format("lease %s (%s)", self.key, self.token)
end

-- A lease granted for grant_ms, less than its ttl (a hand-over's capped grant): extended to its
-- ttl a third of the way through the grant if it is still held then (lock_renew.top_up).
function M.top_up(l, grant_ms)
    renew.top_up(l, grant_ms)
end

-- Starts automatic renewal; on_lost(lease, why) is called if it fails.
function M.renew(l, on_lost)
    l.renew = true
    l.on_lost = on_lost
    l.renew_fn = function(x) return x.ops.extend(x, x.ttl) end
    renew.add(l)
end

return M
