-- Gold transfers between players wherever they are (this node, another node, offline).
--
-- Both players' locks are taken in one global order (sorted names), so two transfers between
-- the same players in opposite directions cannot deadlock. Under the locks, one script checks
-- that the locks are still ours, that both players exist and that the giver has the gold, then
-- moves it, bumps both records' versions and appends to the ledger: a node that dies at any
-- point leaves either the whole transfer or none of it. The locks keep concurrent transfers of
-- one player in a single file (the script alone would already keep the sum right; the locks make
-- the read-check-write of a balance exclusive to one transfer, also for code that does not go
-- through this script) and a lock whose lease ran out makes the script refuse.
--
-- Thread: the calling service (its Redis client). give yields.
local skynet = require "skynet"
local lock = require "skynet.db.redis.lock"
local gdb = require "game_db"

local bank = {}

local LOCK = { ttl = 3000, wait = 2000 }

local releasing, settled = 0, {} -- releases in flight; coroutines waiting for none

local function release(l)
    pcall(l.release, l)
    releasing = releasing - 1
    if releasing == 0 then
        for i = 1, #settled do skynet.wakeup(settled[i]) end
        settled = {}
    end
end

-- Waits until every release started by give has been answered (a node stopping must not leave
-- its locks to expire). Yields.
function bank.settle()
    if releasing == 0 then return end
    local co = coroutine.running()
    settled[#settled + 1] = co
    skynet.wait(co)
end

-- bank.give(db, from, to, amount) -> {from gold, from version, to gold, to version}, or nil
-- and why: "unknown" (to does not exist), "poor" (detail: the giver's gold), "busy" (a lock
-- could not be had in time), "lost" (a lock expired before the transfer; nothing moved),
-- "missing" (the giver's record is gone), "unavailable" (detail: the client's text; the
-- transfer may or may not have been applied, the ledger says). Yields.
function bank.give(db, from, to, amount)
    assert(from ~= to, "bank.give: from and to must differ")
    local first, second = from, to
    if second < first then first, second = second, first end
    local l1, why, detail = lock.acquire(db, gdb.lock_key(first), LOCK)
    if not l1 then
        return nil, why == "unavailable" and "unavailable" or "busy", detail
    end
    local l2
    l2, why, detail = lock.acquire(db, gdb.lock_key(second), LOCK)
    if not l2 then
        releasing = releasing + 1
        release(l1)
        return nil, why == "unavailable" and "unavailable" or "busy", detail
    end
    local ok, r = pcall(gdb.TRANSFER, db, 5, gdb.player_key(from), gdb.player_key(to),
        gdb.lock_key(first), gdb.lock_key(second), gdb.LEDGER, amount, l1.token, l2.token, from, to)
    -- Not waited for: they leave in one write, and this client's next commands (another
    -- transfer's acquires) queue behind them on the same connection anyway.
    releasing = releasing + 2
    skynet.fork(release, l2)
    skynet.fork(release, l1)
    if not ok then return nil, "unavailable", r end
    local status = r[1]
    if status == 1 then return { r[2], r[3], r[4], r[5] } end
    if status == -2 then return nil, "unknown" end
    if status == -4 then return nil, "poor", r[2] end
    if status == -3 then return nil, "lost" end
    return nil, "missing"
end

return bank
