-- Shared by the Redis Cluster tests (not a test itself): the cluster with_cluster started, its
-- control port, plain clients of its nodes and their slot map, a wait for a master's replicas to
-- sync, and a writer that counts what it was told.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local env = require "lab_env"

local M = {}

M.ports = env.ports("SKYHIVE_TEST_CLUSTER_PORTS", "with_cluster")
-- "127.0.0.1:p" of every node, the form redis.cluster's nodes option takes.
M.seeds = {}
for i, p in ipairs(M.ports) do M.seeds[i] = "127.0.0.1:" .. p end
-- cluster-require-full-coverage of every node (with_cluster --full-coverage yes|no).
M.full_coverage = os.getenv "SKYHIVE_TEST_CLUSTER_FULL_COVERAGE" ~= "no"

-- The control connection; each call yields until with_cluster has done it:
--   lab:masters() -> {port...} (slot 0's owner first), lab:replicas(p) -> {port...},
--   lab:slots(p) -> n, lab:owner(slot) -> port, lab:id(p) -> node id,
--   lab:kill(p), lab:stop(p), lab:pause(p), lab:resume(p), lab:restart(p), lab:failover(p),
--   lab:reshard(from, to, n), lab:addnode([master]) -> port, lab:delnode(p),
--   lab:waitok([ms]), lab:garbage() -> port. A failed action raises with_cluster's error text.
-- Its timeout is long: RESHARD and ADDNODE wait for redis-cli and for the cluster.
M.lab = env.control("with_cluster", 300000)

-- A plain client of one node (not following the cluster: a key of another node's slot gets
-- MOVED).
M.direct = env.direct

-- A plain client of one node kept open for later calls (M.forget(port) once the node is killed,
-- so that the next call connects again). Like M.direct, it does not follow the cluster.
local plain = {}
function M.node(port)
    port = tonumber(port)
    if not plain[port] then plain[port] = redis.connect { port = port } end
    return plain[port]
end
function M.forget(port)
    plain[tonumber(port)] = nil
end

-- The master that owns a slot as the masters' own CLUSTER SLOTS say (not the harness's view).
function M.slot_owner(slot)
    for _, p in ipairs(M.lab():masters()) do
        for _, s in ipairs(M.node(p):command("CLUSTER", "SLOTS")) do
            if slot >= s[1] and slot <= s[2] then return tonumber(s[3][2]) end
        end
    end
end

-- The entry of db:nodes() (a redis.cluster client's view) for the node on `port`, nil if the
-- client does not list it.
function M.listed(db, port)
    for _, n in ipairs(db:nodes()) do
        if n.addr == "127.0.0.1:" .. port then return n end
    end
end

-- Waits until every replica of `master` has finished its sync (master_link_status:up): only then
-- can one be promoted when the master dies (a fresh cluster's replicas may still be loading).
-- Yields; raises after 3 s.
function M.synced(master)
    local ctl = M.lab()
    t.wait_until(function()
        local reps = ctl:replicas(master)
        if #reps == 0 then return false end
        for _, p in ipairs(reps) do
            local c = redis.connect { port = tonumber(p), timeout = 2000 }
            local ok, info = pcall(c.info, c, "replication")
            c:disconnect()
            if not ok or not info:find("master_link_status:up", 1, true) then return false end
        end
        return true
    end, 3000, "the replicas of " .. master .. " in sync")
end

-- Runs fn(i) in n coroutines and returns once all have ended; raises the first error. Yields.
function M.together(n, fn)
    local left, err, me = n, nil, coroutine.running()
    for i = 1, n do
        skynet.fork(function()
            local ok, e = pcall(fn, i)
            if not ok and not err then err = e end
            left = left - 1
            if left == 0 then skynet.wakeup(me) end
        end)
    end
    skynet.wait(me)
    if err then error(err, 0) end
end

-- Another node's release of lock `name` (unsuffixed, so kept as "{name}"), played here: the
-- lock is held under a token of another node tag; a coroutine of this service waits for it with
-- a 3 s poll, so that only a notice wakes it sooner. Once the waiter is named in K:waiters,
-- listening(waiter_token) yields until it listens (its subscription confirmed on the server);
-- then counters() is taken, the other node's release runs with this client's notice mode, and
-- this returns once the waiter holds the lock: its lease, the ms from the release to it, the
-- release's reply, counters()'s value before the release. Yields.
function M.far_release(db, name, listening, counters)
    local lock = require "skynet.db.redis.lock"
    local scripts = require "skynet.db.redis.lock_scripts"
    local key = "{" .. name .. "}"
    local far_tag = skynet.getenv "lock_node_tag" == "0000abcd" and "0000abce" or "0000abcd"
    local holder = "0.fffffd." .. far_tag .. "00000000.1"
    db:set(key, holder, "PX", 10000)
    local me, lease, ms, released_at = coroutine.running()
    skynet.fork(function()
        lease = assert(lock.acquire(db, name,
            { ttl = 5000, wait = 8000, retry = { base = 3000, max = 3000, jitter = 0 } }))
        ms = (skynet.hpc() - released_at) // 1000000
        skynet.wakeup(me)
    end)
    t.wait_until(function() return db:scard(key .. ":waiters") == 1 end, 500, "the waiter is named")
    listening(db:srandmember(key .. ":waiters"))
    skynet.sleep(50) -- its try after the subscription, refused too
    local before = counters()
    released_at = skynet.hpc()
    local channel = key .. ":released"
    local reply = scripts.release(db, 5, key, key .. ":queue", key .. ":qexp", key .. ":fence",
        key .. ":waiters", holder, channel, scripts.notice_mode(db, channel), far_tag)
    skynet.wait(me)
    return lease, ms, reply, before
end

-- The kind of a failed write, from its error text.
local kinds = {
    { "may or may not have executed", "ambiguous" },
    { "CROSSSLOT", "crossslot" },
    { "CLUSTERDOWN", "clusterdown" },
    { "TRYAGAIN", "tryagain" },
    { "MOVED", "moved" },
    { "ASK", "ask" },
    { "timeout", "timeout" },
    { "no reply within", "timeout" },
}
function M.kind(err)
    for _, k in ipairs(kinds) do
        if err:find(k[1], 1, true) then return k[2] end
    end
    return "other"
end

-- n coroutines write through db until w.stop(): each INCRs the keys in turn (opts.op = "incr",
-- the default) or SETs a key of its own per write (opts.op = "set": "<prefix>:<coroutine>:<seq>").
-- opts.keys: a list of key names, or how many keys "<prefix>:<i>" to spread over the slots
-- (default 64); opts.prefix (default "w"); opts.pace_cs: centiseconds between two writes of one
-- coroutine (default none: as fast as the replies come).
-- The writer counts:
--   w.acked        acknowledged writes          w.failed  failed ones
--   w.errors       failed ones by kind (M.kind: ambiguous, clusterdown, tryagain, moved, ask,
--                  crossslot, timeout, other)
--   w.samples      the first 20 error texts
--   w.latency_ms   every write's time, acknowledged or not (w.percentile(99))
-- w.mark() notes the time; w.first_ok_after_mark is the time of the first success after it.
-- w.check(reader) reads every key back through `reader` (a client able to reach them) and
-- returns lost, extra: acknowledged writes the cluster does not have, and writes it has beyond
-- those acknowledged and those whose fate is unknown (ambiguous). Neither should ever be > 0
-- except lost after an unsafe fault (kill -9 of a master with asynchronous replication).
function M.writer(db, n, opts)
    opts = opts or {}
    local op = opts.op or "incr"
    assert(op == "incr" or op == "set", "cluster_lab.writer: op must be \"incr\" or \"set\"")
    local prefix = opts.prefix or "w"
    local keys = opts.keys or 64
    if type(keys) == "number" then
        local list = {}
        for i = 1, keys do list[i] = prefix .. ":" .. i end
        keys = list
    end
    local w = { acked = 0, failed = 0, errors = {}, samples = {}, latency_ms = {}, live = 0,
        running = true, first_ok_after_mark = nil, mark_at = nil }
    local acked_by_key, unsure_by_key, set_keys = {}, {}, {}
    function w.mark()
        w.mark_at = skynet.hpc()
        w.first_ok_after_mark = nil
    end
    -- Yields until every writer coroutine has returned.
    function w.stop()
        w.running = false
        while w.live > 0 do skynet.sleep(1) end
    end
    function w.percentile(p)
        local l = {}
        for i, v in ipairs(w.latency_ms) do l[i] = v end
        if #l == 0 then return 0 end
        table.sort(l)
        return l[math.max(1, math.ceil(#l * p / 100))]
    end
    local function done(key, ok, err, t0)
        w.latency_ms[#w.latency_ms + 1] = (skynet.hpc() - t0) / 1e6
        if ok then
            w.acked = w.acked + 1
            if w.mark_at and not w.first_ok_after_mark then w.first_ok_after_mark = skynet.hpc() end
            if op == "incr" then acked_by_key[key] = (acked_by_key[key] or 0) + 1
            else set_keys[#set_keys + 1] = key end
            return
        end
        err = tostring(err)
        w.failed = w.failed + 1
        local kind = M.kind(err)
        w.errors[kind] = (w.errors[kind] or 0) + 1
        if kind == "ambiguous" or kind == "timeout" then
            unsure_by_key[key] = (unsure_by_key[key] or 0) + 1
        end
        if #w.samples < 20 then w.samples[#w.samples + 1] = err end
    end
    for j = 1, n do
        w.live = w.live + 1
        skynet.fork(function()
            local seq = 0
            while w.running do
                seq = seq + 1
                local key, ok, err
                local t0 = skynet.hpc()
                if op == "incr" then
                    key = keys[(j + seq) % #keys + 1]
                    ok, err = pcall(db.incr, db, key)
                else
                    key = prefix .. ":" .. j .. ":" .. seq
                    ok, err = pcall(db.set, db, key, seq)
                end
                done(key, ok, err, t0)
                if opts.pace_cs then skynet.sleep(opts.pace_cs) end
            end
            w.live = w.live - 1
        end)
    end
    function w.check(reader)
        local lost, extra = 0, 0
        if op == "incr" then
            for _, key in ipairs(keys) do
                local v = tonumber(reader:get(key)) or 0
                local acked, unsure = acked_by_key[key] or 0, unsure_by_key[key] or 0
                if v < acked then lost = lost + acked - v end
                if v > acked + unsure then extra = extra + v - acked - unsure end
            end
        else
            for _, key in ipairs(set_keys) do
                if reader:get(key) == nil then lost = lost + 1 end
            end
        end
        return lost, extra
    end
    return w
end

return M
