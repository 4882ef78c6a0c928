-- Fan-out of one publisher to `subs` subscriber services, `count` publications of a table of
-- about 1 KB, through skynet.multicast (packed once, the bytes copied per subscriber by
-- multicastd) and, as the reference in the same run, through skynet.send to each subscriber
-- (packed once per subscriber). Prints one line:
--   multicast.fanout subs=S count=C deliveries_per_s=D reference_per_s=R ratio=D/R
-- A delivery is one message handled by one subscriber. bench/lua/multicast_bench.sh runs it.
local skynet = require "skynet"
local multicast = require "skynet.multicast"

local subs, count = ...
subs, count = tonumber(subs) or 100, tonumber(count) or 2000

local payload = {}
for i = 1, 40 do payload[i] = { id = i, name = "entity" .. i, x = i * 1.5 } end

local function run(readers, publish)
    local t0 = skynet.hpc()
    for i = 1, count do publish(i) end
    for i = 1, subs do skynet.call(readers[i], "lua", "WAIT", count) end
    return subs * count / ((skynet.hpc() - t0) / 1e9)
end

skynet.start(function()
    local readers = {}
    for i = 1, subs do readers[i] = skynet.newservice "bench_multicast_sub" end
    local c = multicast.new()
    for i = 1, subs do skynet.call(readers[i], "lua", "SUB", c.channel) end
    local send = skynet.send
    local reference = run(readers, function()
        for i = 1, subs do send(readers[i], "lua", "MSG", payload) end
    end)
    for i = 1, subs do skynet.call(readers[i], "lua", "RESET") end
    local rate = run(readers, function() c:publish(payload) end)
    print(string.format("multicast.fanout subs=%d count=%d deliveries_per_s=%.0f " ..
        "reference_per_s=%.0f ratio=%.2f", subs, count, rate, reference, rate / reference))
    skynet.abort(0)
end)
