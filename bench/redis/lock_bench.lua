-- Lock benchmark service, for bench/redis/lock_bench.sh:
--   lock_bench main <port> <contenders> <seconds> <mode> [uncontended_pairs]
-- (contenders 0: only the uncontended pairs)
-- mode: "fair" or "nonfair". The main service starts `contenders` services, each with its own
-- connection; for `seconds` each loops: acquire "bench:lock" (ttl 1 s, wait forever), read
-- "bench:counter", spend 1 ms, write the value + 1, release. Then it checks that the counter
-- equals the number of acquisitions (a lost update means two holders overlapped) and prints
--   lock.contended.c<n>.<mode> acq_per_s=<n> p50_wait_ms=<x> p99_wait_ms=<x> max_wait_ms=<x>
--       exclusive=<yes|no>
-- and, when uncontended_pairs > 0, acquire+release pairs of one coroutine on a free lock:
--   lock.uncontended pairs_per_s=<n>
-- The timer wheel ticks every 10 ms, so the 1 ms is spent spinning on the monotonic clock: it
-- occupies a worker thread as real work in a critical section would.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"

local role = ...
local args = table.pack(select(2, ...))

local KEY, COUNTER = "bench:lock", "bench:counter"

local function spin(ns)
    local t = skynet.hpc() + ns
    while skynet.hpc() < t do end
end

local function worker(port, seconds, fair)
    local db = redis.connect { port = port }
    local opts = { ttl = 1000, wait = math.huge, fair = fair }
    skynet.dispatch("lua", function(_, _, cmd, start_ns)
        assert(cmd == "run")
        local stop = start_ns + seconds * 1000000000
        local waits, n, invalid = {}, 0, 0
        while skynet.hpc() < stop do
            local t0 = skynet.hpc()
            local l, err = lock.acquire(db, KEY, opts)
            local t1 = skynet.hpc()
            if not l then error("acquire: " .. tostring(err)) end
            n = n + 1
            waits[n] = (t1 - t0) / 1e6
            local v = tonumber(db:get(COUNTER)) or 0
            spin(1000000)
            db:set(COUNTER, v + 1)
            if not l:valid() then invalid = invalid + 1 end
            local ok, rerr = l:release()
            if not ok then error("release: " .. tostring(rerr)) end
        end
        skynet.retpack(n, waits, invalid)
    end)
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
    local done, total, all, invalid = 0, 0, {}, 0
    local me = coroutine.running()
    for i = 1, contenders do
        skynet.fork(function()
            local n, waits, bad = skynet.call(workers[i], "lua", "run", start)
            total = total + n
            invalid = invalid + bad
            table.move(waits, 1, #waits, #all + 1, all)
            done = done + 1
            if done == contenders then skynet.wakeup(me) end
        end)
    end
    if contenders > 0 then skynet.wait(me) end
    local counter = tonumber(db:get(COUNTER)) or 0
    table.sort(all)
    if contenders > 0 then print(string.format(
        "lock.contended.c%d.%s acq_per_s=%.0f p50_wait_ms=%.2f p99_wait_ms=%.2f max_wait_ms=%.2f exclusive=%s",
        contenders, mode, total / seconds, percentile(all, 0.5), percentile(all, 0.99),
        all[#all] or 0, (counter == total and invalid == 0) and "yes" or
            string.format("no(counter=%d acquisitions=%d invalid=%d)", counter, total, invalid)))
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
    if role == "worker" then
        worker(tonumber(args[1]), tonumber(args[2]), args[3] == "fair")
    else
        main(tonumber(args[1]), tonumber(args[2]), tonumber(args[3]), args[4],
            tonumber(args[5]) or 0)
    end
end)
