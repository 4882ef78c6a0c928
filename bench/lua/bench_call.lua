-- skynet.call round trips per second to another Lua service: `bench_call n concurrency`, with
-- `concurrency` coroutines calling at once. Reports through the env key bench_result.
local skynet = require "skynet"
local n, concurrency = tonumber((...)), tonumber((select(2, ...)))

skynet.start(function()
    local server = skynet.newservice "bench_server"
    local call, hpc = skynet.call, skynet.hpc
    for i = 1, 2000 do call(server, "lua", i) end  -- warm-up
    local each = n // concurrency
    local done = 0
    local t0 = hpc()
    for _ = 1, concurrency do
        skynet.fork(function()
            for i = 1, each do call(server, "lua", i) end
            done = done + 1
            if done == concurrency then
                skynet.setenv("bench_result", tostring(each * concurrency / ((hpc() - t0) / 1e9)))
                skynet.abort(0)
            end
        end)
    end
end)
