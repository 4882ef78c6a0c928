-- Gold transfers between players wherever they are (this node, another node, offline).
--
-- Both players' locks are taken in one global order (sorted names), so two transfers between
-- the same players in opposite directions cannot deadlock. The locks keep concurrent transfers
-- of one player in a single file (the read-check-write of a balance is exclusive to one
-- transfer, also for code that does not go through these scripts), and a lock whose lease ran
-- out makes the scripts refuse.
--
-- On one server (standalone, Sentinel) one script checks that the locks are still ours, that
-- both players exist and that the giver has the gold, then moves it, bumps both records'
-- versions and appends to the ledger: a node that dies at any point leaves either the whole
-- transfer or none of it.
--
-- On Redis Cluster the two players' keys are in different slots, which no script spans. A
-- transfer is then a chain of one-slot scripts, each under the players' locks
-- (docs/architecture.md, "The game on Redis Cluster"):
--   1. index it in the ledger's slot as in flight ("<id>\t<from>\t<to>", server time);
--   2. debit the giver and record "<to>\t<amount>" under the id in the giver's slot;
--   3. credit the receiver once per id (the id is remembered in the receiver's slot);
--   4. append to the ledger once per id;
--   5. settle: forget the id in the giver's slot, then in the receiver's, then unindex it.
-- Any node completes a transfer it finds indexed for longer than a lock lasts (recover): it
-- takes both locks (so the node that began it, if only paused, can no longer take a step) and
-- runs 3-5 when the giver's record of it is still there, or only 5 when it is not (never
-- debited, or already credited and appended). Every debit is thus credited and appended to the
-- ledger exactly once.
--
-- Thread: the calling service (its Redis client). give, settle and recover yield.
local skynet = require "skynet"
local lock = require "skynet.db.redis.lock"
local gdb = require "game_db"

local bank = {}

local LOCK = { ttl = 3000, wait = 2000 }
-- How long a transfer stays indexed before another node completes it: a lock's lease, and a
-- second for the clocks of the giver's and the ledger's masters.
bank.RECOVER_AFTER = LOCK.ttl + 1000

local releasing, settled = 0, {} -- releases in flight; coroutines waiting for none

local function release(l)
    pcall(l.release, l)
    releasing = releasing - 1
    if releasing == 0 then
        for i = 1, #settled do skynet.wakeup(settled[i]) end
        settled = {}
    end
end

-- Not waited for: they leave in one write, and this client's next commands (another
-- transfer's acquires) queue behind them on the same connection anyway.
local function release_both(l1, l2)
    releasing = releasing + 2
    skynet.fork(release, l2)
    skynet.fork(release, l1)
end

-- Waits until every release started by give has been answered (a node stopping must not leave
-- its locks to expire). Yields.
function bank.settle()
    if releasing == 0 then return end
    local co = coroutine.running()
    settled[#settled + 1] = co
    skynet.wait(co)
end

-- Both players' locks in name order -> lease of a, lease of b | nil, why, detail
local function lock_pair(db, a, b, opts)
    local first, second = a, b
    if second < first then first, second = second, first end
    local l1, why, detail = lock.acquire(db, gdb.lock_key(first), opts)
    if not l1 then
        return nil, why == "unavailable" and "unavailable" or "busy", detail
    end
    local l2
    l2, why, detail = lock.acquire(db, gdb.lock_key(second), opts)
    if not l2 then
        releasing = releasing + 1
        release(l1)
        return nil, why == "unavailable" and "unavailable" or "busy", detail
    end
    if first == a then return l1, l2 end
    return l2, l1
end

local NEWS_PREFIX = gdb.news_channel("")

local function give_atomic(db, from, to, amount, news)
    local lf, lt, detail = lock_pair(db, from, to, LOCK)
    if not lf then return nil, lt, detail end
    local l1, l2 = lf, lt
    if to < from then l1, l2 = lt, lf end
    local ok, r
    if news then
        ok, r = pcall(gdb.TRANSFER, db, 6, gdb.player_key(from), gdb.player_key(to), l1.key,
            l2.key, gdb.LEDGER, gdb.ONLINE, amount, l1.token, l2.token, from, to, news.node,
            news.from, NEWS_PREFIX)
    else
        ok, r = pcall(gdb.TRANSFER, db, 6, gdb.player_key(from), gdb.player_key(to), l1.key,
            l2.key, gdb.LEDGER, gdb.ONLINE, amount, l1.token, l2.token, from, to)
    end
    release_both(lf, lt)
    if not ok then return nil, "unavailable", r end
    local status = r[1]
    if status == 1 then return { r[2], r[3], r[4], r[5], where = r[6], told = r[7] > 0 } end
    if status == -2 then return nil, "unknown" end
    if status == -4 then return nil, "poor", r[2] end
    if status == -3 then return nil, "lost" end
    return nil, "missing"
end

----------------------------------------------------------------------------------------------
-- Redis Cluster: the chain of one-slot steps

-- Transfer ids: the node's name (one live node per name, see presence.lua), then what tells
-- its runs and services apart, then a counter.
local id_prefix = string.format("%s.%x.%x%06x",
    skynet.getenv "game_node" or ("node" .. (skynet.getenv "harbor" or "0")), skynet.self(),
    os.time(), (math.random(0, 0xffffff) ~ skynet.hpc()) & 0xffffff)
local id_seq = 0

-- A test hook (config game_test_hook): "stall_after_debit" / "stall_after_credit" leaves every
-- transfer of this node right after that step, as a node that died there would.
local hook = skynet.getenv "game_test_hook"

local function stall(id, step)
    skynet.error(string.format("game: test hook: transfer %s stalls after its %s", id, step))
    skynet.wait(coroutine.running())
end

-- Steps 3-5 for a transfer whose debit is recorded, under both locks (the leases lf, lt).
-- -> {to gold, to version} (nil when credited before) | nil, "lost" (a lock ran out: the rest
-- is left to recovery). Raises the client's text when Redis does not answer (also left to
-- recovery).
local function complete(db, id, from, to, amount, lf, lt)
    local c = gdb.CREDIT(db, 3, gdb.player_key(to), gdb.lock_key(to), gdb.credited_key(to),
        amount, lt.token, id)
    if c[1] == -3 then return nil, "lost" end
    if hook == "stall_after_credit" then stall(id, "credit") end
    gdb.LEDGER_ADD(db, 2, gdb.LEDGER, gdb.LEDGER_IDS, id, from, to, amount)
    if gdb.SETTLE(db, 2, gdb.xfer_key(from), gdb.lock_key(from), id, lf.token) == -3 then
        return nil, "lost"
    end
    if gdb.SETTLE(db, 2, gdb.credited_key(to), gdb.lock_key(to), id, lt.token) == -3 then
        return nil, "lost"
    end
    db:zrem(gdb.PENDING, table.concat({ id, from, to }, "\t"))
    if c[1] == 1 then return { c[2], c[3] } end
    return {}
end

local function give_steps(db, from, to, amount)
    local lf, lt, detail = lock_pair(db, from, to, LOCK)
    if not lf then return nil, lt, detail end
    local debited
    local ok, r, why, more = pcall(function()
        if not db:exists(gdb.player_key(to)) then return nil, "unknown" end
        id_seq = id_seq + 1
        local id = id_prefix .. "." .. id_seq
        local member = table.concat({ id, from, to }, "\t")
        gdb.XFER_BEGIN(db, 1, gdb.PENDING, member)
        local d = gdb.DEBIT(db, 3, gdb.player_key(from), gdb.lock_key(from), gdb.xfer_key(from),
            amount, lf.token, id, to)
        if d[1] ~= 1 then
            pcall(db.zrem, db, gdb.PENDING, member)
            if d[1] == -4 then return nil, "poor", d[2] end
            if d[1] == -3 then return nil, "lost" end
            return nil, "missing"
        end
        debited = d
        if hook == "stall_after_debit" then stall(id, "debit") end
        -- Debited: the transfer completes, here or by recovery; only the receiver's new
        -- balance may be unknown to the caller.
        local c = complete(db, id, from, to, amount, lf, lt) or {}
        return { d[2], d[3], c[1], c[2] }
    end)
    release_both(lf, lt)
    if ok then return r, why, more end
    -- Debited, then Redis did not answer: recovery completes it.
    if debited then return { debited[2], debited[3] } end
    return nil, "unavailable", r
end

-- One transfer found in flight: completes it under both players' locks. -> the outcome for the
-- log: "completed", "settled" (nothing to credit), or nil and why not (busy, unavailable).
local function recover_one(db, member, news)
    local id, from, to = member:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
    if not id then
        db:zrem(gdb.PENDING, member)
        return nil, "malformed entry removed"
    end
    local lf, lt, detail = lock_pair(db, from, to, { ttl = LOCK.ttl, wait = 0 })
    if not lf then return nil, lt, detail end
    local ok, r, why = pcall(function()
        local pending = db:hget(gdb.xfer_key(from), id)
        if not pending then
            -- Never debited, or credited and appended already: only settling is left.
            if gdb.SETTLE(db, 2, gdb.credited_key(to), gdb.lock_key(to), id, lt.token) == -3 then
                return nil, "lost"
            end
            db:zrem(gdb.PENDING, member)
            return "settled"
        end
        local amount = math.tointeger(tonumber(pending:match("\t(%d+)$")))
        local c, lost = complete(db, id, from, to, amount, lf, lt)
        if not c then return nil, lost end
        if c[1] then skynet.fork(news, to, from, amount, c[1], c[2]) end
        return "completed", amount
    end)
    release_both(lf, lt)
    if not ok then return nil, "unavailable", r end
    return r, why
end

-- Completes the transfers in flight for longer than RECOVER_AFTER ms (their node died or lost
-- Redis between the steps). The receiver's news goes to news(to, from, amount, gold, version)
-- in a fork (default: published on game:notify). Returns how many were completed or settled.
-- Yields.
function bank.recover(db, news)
    if not gdb.CLUSTER then return 0 end
    news = news or function(to, from, amount, gold, version)
        pcall(db.publish, db, gdb.NOTIFY, table.concat({ to, from, amount, gold, version }, "\t"))
    end
    local old = gdb.XFER_OLD(db, 1, gdb.PENDING, bank.RECOVER_AFTER, 50)
    local n = 0
    for i = 1, #old do
        local outcome, more = recover_one(db, old[i], news)
        if outcome then
            n = n + 1
            local shown = old[i]:gsub("\t", " ")
            skynet.error(string.format("game: transfer %s %s (recovered%s)", shown, outcome,
                more and (": " .. more .. " gold") or ""))
        end
    end
    return n
end

-- bank.give(db, from, to, amount[, news]) -> {from gold, from version, to gold, to version,
-- where = the node that has `to` online as presence said when the gold moved, "" for none (one
-- server only: on a cluster where is nil, ask presence), told = true when the news went out},
-- or nil and why. `news` ({node = the caller's node, from = the giver's name as shown}) asks
-- the transfer, on one server, to publish the receiver's [gold] news on the channel of the node
-- that has them (game_db.news_channel) when that is another node; told says whether anyone
-- listened there (otherwise the news is the caller's to send). Why: "unknown" (to does not
-- exist), "poor" (detail: the giver's gold), "busy" (a lock could not be had in time), "lost"
-- (a lock expired before the transfer; nothing moved), "missing" (the giver's record is gone),
-- "unavailable" (detail: the client's text; the transfer may or may not have been applied, the
-- ledger says). On a cluster the receiver's gold and version are nil when the credit was left
-- to recovery. Yields.
function bank.give(db, from, to, amount, news)
    assert(from ~= to, "bank.give: from and to must differ")
    if gdb.CLUSTER then return give_steps(db, from, to, amount) end
    return give_atomic(db, from, to, amount, news)
end

return bank
