-- skynet.send messages per second into another Lua service: `bench_send n [burst]` sends n
-- messages, `burst` at a time (default 1000) with a skynet.yield between bursts so the receiver
-- drains as the sender goes, then a call waits until the receiver has handled them all (mailboxes
-- are FIFO per sender). Reports through the env key bench_result.
local skynet = require "skynet"
local n = tonumber((...))
local burst = tonumber((select(2, ...))) or 1000

skynet.start(function()
    local server = skynet.newservice "bench_server"
    local send, hpc = skynet.send, skynet.hpc
    for i = 1, 2000 do send(server, "lua", i) end  -- warm-up
    skynet.call(server, "lua", "count")
    local t0 = hpc()
    for i = 1, n do
        send(server, "lua", i)
        if i % burst == 0 then skynet.yield() end
    end
    local received = skynet.call(server, "lua", "count")
    local seconds = (hpc() - t0) / 1e9
    assert(received == n + 2000, "lost messages")
    skynet.setenv("bench_result", tostring(n / seconds))
    skynet.abort(0)
end)
