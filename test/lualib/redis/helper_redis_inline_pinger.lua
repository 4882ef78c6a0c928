-- For test_redis_inline_order (helper_redis_inline_pinger <target> [coroutines, default 8]):
-- coroutines call "ping" on the target service from a worker, each waiting for its answer and
-- then a timer tick before the next, until told to stop. The calls wait for their answers so that
-- a slow build (a sanitizer's) does not queue pings faster than the target handles them, which
-- would keep it busy on the workers for good.
local skynet = require "skynet"

local target, coroutines = ...
target, coroutines = tonumber(target), tonumber(coroutines) or 8
local stop = false

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd == "stop" then
            stop = true
            skynet.ret()
        end
    end)
    for _ = 1, coroutines do
        skynet.fork(function()
            while not stop do
                skynet.call(target, "lua", "ping")
                skynet.sleep(1)
            end
        end)
    end
end)
