-- For test_redis_inline_order: sends "ping" to the target service from a worker, eight per
-- timer tick, until told to stop.
local skynet = require "skynet"

local target = tonumber((...))
local stop = false

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd == "stop" then
            stop = true
            skynet.ret()
        end
    end)
    skynet.fork(function()
        while not stop do
            for _ = 1, 8 do skynet.send(target, "lua", "ping") end
            skynet.sleep(1)
        end
    end)
end)
