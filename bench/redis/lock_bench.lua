-- Lock benchmark service, for bench/redis/lock_bench.sh:
--   lock_bench main <port> <contenders> <seconds> <mode> [uncontended_pairs]
-- (contenders 0: only the uncontended pairs)
-- mode: "fair" or "nonfair". The main service starts `contenders` services, each with its own
-- connection; for `seconds` each loops: acquire "bench:lock" (ttl 1 s, wait forever), read
-- "bench:counter", spend 1 ms, write the value + 1, release. Then it checks that the counter
-- equals the number of acquisitions (a lost update means two holders overlapped) and prints
--   lock.contended.c<n>.<mode> acq_per_s=<n> p50_wait_ms=<x> p99_wait_ms=<x> max_wait_ms=<x>
--       exclusive=<yes|no>
--   lock.node.c<n>.<mode> msgs_per_acq=<x> cpu_us_per_acq=<x> local_wake_share=<x>
--       (service messages and process CPU besides the 1 ms spin, per acquisition; the share of
--       woken waiters that the release's own node woke, not its pub/sub notice)
--   lock.handoff.c<n>.<mode> woken_share=<x> sent_acq_ms=<median>/<mean> ...
--       (the path from a release being sent to the next holder's first instruction: the
--       release's round trip (sent_reply), its notice (or, for a waiter of the releasing node, its
--       grant) reaching the waiter's service (sent_notice), the waiter running again
--       (notice_woken), acquire returning (woken_acq), all of it (sent_acq); and the rest of a
--       holder's cycle: acquire to the GET's reply (acq_get: one round trip through the node),
--       the 1 ms and the SET (get_set), SET to release (set_sent); woken_share is the share of
--       acquisitions a notice or grant handed over)
-- and, when uncontended_pairs > 0, acquire+release pairs of one coroutine on a free lock:
--   lock.uncontended pairs_per_s=<n>
-- The timer wheel ticks every 10 ms, so the 1 ms is spent spinning on the monotonic clock: it
-- occupies a worker thread as real work in a critical section would.
local skynet = require "skynet"
local core = require "skynet.core"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local waiting = require "skynet.db.redis.lock_wait"

local role = ...
local args = table.pack(select(2, ...))

local KEY, COUNTER = "bench:lock", "bench:counter"

local function spin(ns)
    local t = skynet.hpc() + ns
    while skynet.hpc() < t do end
end

-- Timestamps (hpc ns) of each acquisition of a worker, for the hand-off breakdown: the last
-- release notice and wake-up before it (0 when it was not woken), the acquire's return, the
-- GET's reply, the SET's reply, the release sent and its reply.
local N_STAMPS = 7
local notice_at, woken_at = 0, 0

local function worker(port, seconds, fair)
    local db = redis.connect { port = port }
    local opts = { ttl = 1000, wait = math.huge, fair = fair }
    local hpc = skynet.hpc
    waiting.trace = function(what)
        if what == "notice" then notice_at = hpc() else woken_at = hpc() end
    end
    skynet.dispatch("lua", function(_, _, cmd, start_ns)
        assert(cmd == "run")
        local stop = start_ns + seconds * 1000000000
        local waits, n, invalid, stamps = {}, 0, 0, {}
        while hpc() < stop do
            notice_at, woken_at = 0, 0
            local t0 = hpc()
            local l, err = lock.acquire(db, KEY, opts)
            local t1 = hpc()
            if not l then error("acquire: " .. tostring(err)) end
            n = n + 1
            waits[n] = (t1 - t0) / 1e6
            local v = tonumber(db:get(COUNTER)) or 0
            local t2 = hpc()
            spin(1000000)
            db:set(COUNTER, v + 1)
            local t3 = hpc()
            if not l:valid() then invalid = invalid + 1 end
            local t4 = hpc()
            local ok, rerr = l:release()
            if not ok then error("release: " .. tostring(rerr)) end
            local s = #stamps
            stamps[s + 1], stamps[s + 2], stamps[s + 3], stamps[s + 4] =
                notice_at >= t0 and notice_at or 0, woken_at >= t0 and woken_at or 0, t1, t2
            stamps[s + 5], stamps[s + 6], stamps[s + 7] = t3, t4, hpc()
        end
        skynet.retpack(n, waits, invalid, stamps)
    end)
end

-- Messages handled by every service of the node, and the process's CPU seconds (all threads:
-- workers, socket and timer threads).
local function node_work()
    local msgs = 0
    for _, h in ipairs(core.list()) do
        local info = core.info(h)
        if info then msgs = msgs + info.messages end
    end
    return msgs, os.clock()
end

-- Lock waiters woken so far by a release of this node itself and by a pub/sub notice
-- (skyhive_lock_wakes_total, every service of the node).
local function wakes()
    local by = { ["local"] = 0, notice = 0 }
    local f = require("skynet.metrics").collect().skyhive_lock_wakes_total
    for _, sample in ipairs(f and f.samples or {}) do
        by[sample.labels.by] = (by[sample.labels.by] or 0) + sample.value
    end
    return by["local"], by.notice
end

local function median(list)
    if #list == 0 then return 0 end
    table.sort(list)
    return list[(#list + 1) // 2]
end

local function mean(list)
    local sum = 0
    for i = 1, #list do sum = sum + list[i] end
    return sum / math.max(1, #list)
end

-- The hand-off, from the stamps of all workers: for each acquisition that followed a release
-- (in time), the median of each step between that release being sent and the new holder's
-- first instruction, and the median of each step of a holder's cycle: "median/mean" in ms.
local function handoff(stamps)
    local acqs = {}
    for i = 1, #stamps, N_STAMPS do acqs[#acqs + 1] = i end
    table.sort(acqs, function(a, b) return stamps[a + 2] < stamps[b + 2] end)
    local steps = { sent_reply = {}, sent_notice = {}, notice_woken = {}, woken_acq = {},
        sent_acq = {}, acq_get = {}, get_set = {}, set_sent = {} }
    for j = 2, #acqs do
        local prev, cur = acqs[j - 1], acqs[j]
        local sent, reply = stamps[prev + 5], stamps[prev + 6]
        local notice, woken, acq = stamps[cur], stamps[cur + 1], stamps[cur + 2]
        if acq > sent then
            local s = steps
            s.sent_reply[#s.sent_reply + 1] = reply - sent
            s.sent_acq[#s.sent_acq + 1] = acq - sent
            if notice > sent and woken >= notice then
                s.sent_notice[#s.sent_notice + 1] = notice - sent
                s.notice_woken[#s.notice_woken + 1] = woken - notice
                s.woken_acq[#s.woken_acq + 1] = acq - woken
            end
        end
    end
    for _, i in ipairs(acqs) do
        steps.acq_get[#steps.acq_get + 1] = stamps[i + 3] - stamps[i + 2]
        steps.get_set[#steps.get_set + 1] = stamps[i + 4] - stamps[i + 3]
        steps.set_sent[#steps.set_sent + 1] = stamps[i + 5] - stamps[i + 4]
    end
    local out = {}
    for _, k in ipairs { "sent_acq", "sent_reply", "sent_notice", "notice_woken", "woken_acq",
        "acq_get", "get_set", "set_sent" } do
        out[#out + 1] = string.format("%s_ms=%.3f/%.3f", k, median(steps[k]) / 1e6,
            mean(steps[k]) / 1e6)
    end
    return table.concat(out, " "), #steps.sent_notice / math.max(1, #acqs - 1)
end

local function percentile(sorted, p)
    if #sorted == 0 then return 0 end
    local i = math.max(1, math.ceil(#sorted * p))
    return sorted[i]
end

local function main(port, contenders, seconds, mode, pairs_n)
    local db = redis.connect { port = port }
    db:del(KEY, COUNTER, KEY .. ":queue", KEY .. ":qexp")
    local workers = {}
    for i = 1, contenders do
        workers[i] = skynet.newservice("lock_bench", "worker", port, seconds, mode)
    end
    local start = skynet.hpc() + 50000000
    local done, total, all, invalid, stamps = 0, 0, {}, 0, {}
    local msgs0, cpu0 = node_work()
    local local0, notice0 = wakes()
    local me = coroutine.running()
    for i = 1, contenders do
        skynet.fork(function()
            local n, waits, bad, st = skynet.call(workers[i], "lua", "run", start)
            total = total + n
            invalid = invalid + bad
            table.move(waits, 1, #waits, #all + 1, all)
            table.move(st, 1, #st, #stamps + 1, stamps)
            done = done + 1
            if done == contenders then skynet.wakeup(me) end
        end)
    end
    if contenders > 0 then skynet.wait(me) end
    local msgs1, cpu1 = node_work()
    local local1, notice1 = wakes()
    local counter = tonumber(db:get(COUNTER)) or 0
    table.sort(all)
    if contenders > 0 then print(string.format(
        "lock.contended.c%d.%s acq_per_s=%.0f p50_wait_ms=%.2f p99_wait_ms=%.2f max_wait_ms=%.2f exclusive=%s",
        contenders, mode, total / seconds, percentile(all, 0.5), percentile(all, 0.99),
        all[#all] or 0, (counter == total and invalid == 0) and "yes" or
            string.format("no(counter=%d acquisitions=%d invalid=%d)", counter, total, invalid)))
        -- Load hardly changes these: messages the node's services handled and the process's
        -- CPU per acquisition, the 1 ms spin taken out.
        local per = math.max(1, total)
        local steps, woken = handoff(stamps)
        local lw, nw = local1 - local0, notice1 - notice0
        print(string.format(
            "lock.node.c%d.%s msgs_per_acq=%.2f cpu_us_per_acq=%.0f local_wake_share=%.2f",
            contenders, mode, (msgs1 - msgs0) / per, (cpu1 - cpu0) * 1e6 / per - 1000,
            lw / math.max(1, lw + nw)))
        print(string.format("lock.handoff.c%d.%s woken_share=%.2f %s", contenders, mode, woken,
            steps))
    end
    if pairs_n > 0 then
        local t0 = skynet.hpc()
        for _ = 1, pairs_n do
            local l = assert(lock.acquire(db, "bench:free", { ttl = 1000 }))
            l:release()
        end
        print(string.format("lock.uncontended pairs_per_s=%.0f", pairs_n / ((skynet.hpc() - t0) / 1e9)))
    end
    skynet.abort(0)
end

skynet.start(function()
    -- The Redis replies and notices are handled on the socket thread (socket.inline), unless
    -- BENCH_INLINE=0.
    if os.getenv("BENCH_INLINE") ~= "0" then require("skynet.socket").inline(true) end
    if role == "worker" then
        worker(tonumber(args[1]), tonumber(args[2]), args[3] == "fair")
    else
        main(tonumber(args[1]), tonumber(args[2]), tonumber(args[3]), args[4],
            tonumber(args[5]) or 0)
    end
end)
