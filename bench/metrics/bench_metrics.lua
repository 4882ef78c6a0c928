-- The scrape cost on a node of n services: `bench_metrics n paced_seconds`.
-- Launches n idle Lua services, registers a few families like an instrumented node's (Redis
-- clients, locks, the game: about 100 series and 4 histograms), then times metrics.render():
-- back to back (render_ms_median, render_ms_max over 50 renders) and once a second for
-- paced_seconds (paced_ms_median, paced_cpu_ms); and metrics.collect(), the dashboard's table of the same data
-- (collect_ms_median over 20). render_cpu_ms and collect_cpu_ms: the process's CPU time
-- (os.clock, every thread; the rest of the node is idle) per call, which waiting for a core on a
-- loaded machine does not inflate. Sets the figures with skynet.setenv and
-- bench_done = 1; the benchmark program reads them and stops the node.
local skynet = require "skynet"
local metrics = require "skynet.metrics"

local n, paced = tonumber((...)), tonumber((select(2, ...)))

local function median(t)
    table.sort(t)
    return t[#t // 2 + 1]
end

skynet.start(function()
    for _ = 1, n do skynet.newservice("bench_idle_service") end
    local cmds = metrics.counter("bench_redis_commands_total", "Commands.", { "client", "command" })
    local errs = metrics.counter("bench_redis_errors_total", "Errors.", { "client" })
    local lat = metrics.histogram("bench_redis_latency_seconds", "Latency.", { "client" })
    local players = metrics.gauge("bench_players_online", "Players.")
    for c = 1, 4 do
        for k, name in ipairs({ "get", "set", "hget", "hset", "eval", "del", "expire", "incr" }) do
            cmds:labels("client" .. c, name):inc(k * c)
        end
        errs:labels("client" .. c):inc(c)
        for i = 1, 100 do lat:labels("client" .. c):observe(i / 10000) end
    end
    players:set(321)

    local text
    for _ = 1, 3 do text = metrics.render() end
    local samples = 0
    for line in text:gmatch("[^\n]+") do
        if line:byte(1) ~= 35 then samples = samples + 1 end -- not '#'
    end
    local times = {}
    local worst = 0
    local cpu0 = os.clock()
    for i = 1, 50 do
        local t0 = skynet.hpc()
        text = metrics.render()
        times[i] = (skynet.hpc() - t0) / 1e6
        if times[i] > worst then worst = times[i] end
    end
    skynet.setenv("render_cpu_ms", tostring((os.clock() - cpu0) * 1000 / 50))
    local collect_times = {}
    cpu0 = os.clock()
    for i = 1, 20 do
        local t0 = skynet.hpc()
        metrics.collect()
        collect_times[i] = (skynet.hpc() - t0) / 1e6
    end
    skynet.setenv("collect_cpu_ms", tostring((os.clock() - cpu0) * 1000 / 20))
    skynet.setenv("collect_ms_median", tostring(median(collect_times)))
    skynet.setenv("render_ms_median", tostring(median(times)))
    skynet.setenv("render_ms_max", tostring(worst))
    skynet.setenv("samples", tostring(samples))
    skynet.setenv("bytes", tostring(#text))

    -- One render a second: caches go cold in between, as they do for a real scraper.
    local paced_times = {}
    local paced_cpu = 0
    for i = 1, paced do
        skynet.sleep(100)
        local t0, c0 = skynet.hpc(), os.clock()
        text = metrics.render()
        paced_cpu = paced_cpu + os.clock() - c0
        paced_times[i] = (skynet.hpc() - t0) / 1e6
    end
    skynet.setenv("paced_ms_median", tostring(median(paced_times)))
    skynet.setenv("paced_cpu_ms", tostring(paced_cpu * 1000 / paced))
    skynet.setenv("bench_done", "1")
end)
