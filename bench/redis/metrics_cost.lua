-- The CPU cost of what the Redis client's metrics add to its hot path, measured in one service
-- with os.clock (process CPU time: a loaded machine's waits do not count): a histogram
-- observation (one per answered request), a counter increment (one per write or frames event),
-- a skynet.hpc() clock read (one per write and per frames event), and, as the same-run
-- reference, skynet.now() (a C call that reads a field, the cheapest call into the node).
-- Prints one line per figure: redis.metrics.<what> ns=<ns> ref_ns=<ns> ratio=<x>.
local skynet = require "skynet"
local metrics = require "skynet.metrics"

local N = 2000000

local function cost(f)
    local t0 = os.clock()
    f()
    return (os.clock() - t0) * 1e9 / N
end

skynet.start(function()
    local h = metrics.histogram("bench_redis_metrics_seconds", "bench", { "client", "role" },
        { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1 })
        :labels("bench", "standalone")
    local c = metrics.counter("bench_redis_metrics_total", "bench", { "client" }):labels("bench")
    local hpc, now = skynet.hpc, skynet.now
    local figures = {
        observe = function() for _ = 1, N do h:observe(0.0003) end end,
        inc = function() for _ = 1, N do c:inc(16) end end,
        hpc = function() for _ = 1, N do hpc() end end,
    }
    local ref = cost(function() for _ = 1, N do now() end end)
    for _, what in ipairs { "observe", "inc", "hpc" } do
        local ns = cost(figures[what])
        print(string.format("redis.metrics.%s ns=%.1f ref_ns=%.1f ratio=%.2f", what, ns, ref,
            ns / ref))
    end
    skynet.abort(0)
end)
