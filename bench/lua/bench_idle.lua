-- Launches n idle Lua services with skynet.newservice from `launchers` services at once and
-- reports the launch rate (bench_result) and the process RSS growth per service in bytes
-- (bench_rss). `bench_idle n launchers script` launches `script` (default bench_idle_service).
local skynet = require "skynet"
local n, launchers = tonumber((...)), tonumber((select(2, ...)))
local script = select(3, ...) or "bench_idle_service"

local function rss()
    local f = assert(io.open("/proc/self/statm"))
    local _, resident = f:read("n", "n")
    f:close()
    return resident * 4096
end

skynet.start(function()
    local workers = {}
    for i = 1, launchers do workers[i] = skynet.newservice("bench_launcher", script) end
    collectgarbage()
    local rss0 = rss()
    local t0 = skynet.hpc()
    local done = 0
    for i = 1, launchers do
        skynet.fork(function()
            skynet.call(workers[i], "lua", n // launchers)
            done = done + 1
            if done == launchers then
                local seconds = (skynet.hpc() - t0) / 1e9
                local total = n // launchers * launchers
                skynet.setenv("bench_result", tostring(total / seconds))
                skynet.setenv("bench_rss", tostring((rss() - rss0) / total))
                skynet.abort(0)
            end
        end)
    end
end)
