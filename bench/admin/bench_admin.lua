-- The admin endpoint's cost on a node of `services` idle Lua services: `scrapes` GETs of
-- /metrics and of /api/state through the endpoint (http.server, one connection each, as a
-- Prometheus scrape makes), timed from the request to the whole answer, with the CPU time the
-- admin service spent on each (the node's own count, as the console's stat shows). The
-- reference, in the same run, is metrics.render() / the snapshot called directly, without HTTP.
-- Prints one line per endpoint:
--   admin.metrics services=N bytes=B ms_p50=... ms_p99=... cpu_ms=... worker_pct_at_1hz=...
--       ref_ms=... ratio=...
-- worker_pct_at_1hz is the admin service's CPU per scrape as a share of one worker's second.
-- bench/admin/admin_bench.sh runs it.
local skynet = require "skynet"
local c = require "skynet.core"
local httpc = require "http.httpc"
local metrics = require "skynet.metrics"
local state = require "admin.state"
local json = require "admin.json"

local services, scrapes = ...
services, scrapes = tonumber(services) or 1000, tonumber(scrapes) or 50

local function percentile(list, p)
    table.sort(list)
    return list[math.max(1, math.ceil(#list * p))]
end

local function measure(host, path, admin)
    local ms, cpu, bytes = {}, {}, 0
    for _ = 1, scrapes do
        local cpu0 = c.info(admin).cpu
        local t0 = skynet.hpc()
        local status, body = httpc.request("GET", host, path)
        ms[#ms + 1] = (skynet.hpc() - t0) / 1e6
        -- The answer can arrive before the admin service's message ends (and is counted): a
        -- request behind it in its mailbox returns after.
        skynet.call(admin, "lua", "address")
        cpu[#cpu + 1] = (c.info(admin).cpu - cpu0) * 1000
        assert(status == 200, path .. " answered " .. tostring(status))
        bytes = #body
        skynet.sleep(1)
    end
    return ms, cpu, bytes
end

local function direct(f)
    local ms = {}
    for _ = 1, scrapes do
        local t0 = skynet.hpc()
        f()
        ms[#ms + 1] = (skynet.hpc() - t0) / 1e6
    end
    return percentile(ms, 0.5)
end

skynet.start(function()
    for _ = 1, services do skynet.newservice "bench_idle_service" end
    local admin = skynet.newservice("admin", "127.0.0.1", 0)
    local _, port = skynet.call(admin, "lua", "address")
    local host = "127.0.0.1:" .. port
    httpc.request("GET", host, "/metrics") -- warm-up
    local snapshot = state.new(metrics)
    for _, case in ipairs {
        { "admin.metrics", "/metrics", function() return metrics.render() end },
        { "admin.state", "/api/state", function() return json.encode(snapshot()) end },
    } do
        local ms, cpu, bytes = measure(host, case[2], admin)
        local ref = direct(case[3])
        local cpu50 = percentile(cpu, 0.5)
        local p50 = percentile(ms, 0.5)
        print(string.format("%s services=%d bytes=%d ms_p50=%.2f ms_p99=%.2f cpu_ms=%.2f " ..
            "worker_pct_at_1hz=%.2f ref_ms=%.2f ratio=%.2f", case[1], services + 0, bytes, p50,
            percentile(ms, 0.99), cpu50, cpu50 / 10, ref, p50 / ref))
    end
    skynet.abort(0)
end)
