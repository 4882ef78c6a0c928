-- skynet.send messages per second into another Lua service: `bench_send n` sends n messages
-- in one go, then a call waits until the receiver has handled them all (mailboxes are FIFO per
-- sender). Reports through the env key bench_result.
local skynet = require "skynet"
local n = tonumber((...))

skynet.start(function()
    local server = skynet.newservice "bench_server"
    local send, hpc = skynet.send, skynet.hpc
    for i = 1, 2000 do send(server, "lua", i) end  -- warm-up
    skynet.call(server, "lua", "count")
    local t0 = hpc()
    for i = 1, n do send(server, "lua", i) end
    local received = skynet.call(server, "lua", "count")
    local seconds = (hpc() - t0) / 1e9
    assert(received == n + 2000, "lost messages")
    skynet.setenv("bench_result", tostring(n / seconds))
    skynet.abort(0)
end)
