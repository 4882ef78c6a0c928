-- A service for test_console: has an info function and one coroutine parked in skynet.wait, so
-- the console's info and task commands have something to show.
--   wake          -> wakes the parked coroutine
--   echo ...      -> its arguments (the console's call)
--   global name   -> the value of the global `name` (what inject changed)
--   hang          -> never answers (the console's call timeout)
--   spin ms       -> spends about ms milliseconds computing in hot() (the console's profile)
local skynet = require "skynet"

local parked

local function park_here()
    parked = coroutine.running()
    skynet.wait(parked)
end

local function hot(ms)
    local stop, x = skynet.hpc() + ms * 1000000, 0
    while skynet.hpc() < stop do
        for i = 1, 1000 do x = x + i % 7 end
    end
    return x
end

skynet.start(function()
    skynet.info_func(function(what)
        return { what = what or "nothing", answer = 42, nested = { deep = true } }
    end)
    skynet.fork(park_here)
    skynet.dispatch("lua", function(_, _, cmd, ...)
        if cmd == "echo" then return skynet.retpack(...) end
        if cmd == "global" then return skynet.retpack(_G[...]) end
        if cmd == "hang" then
            skynet.wait(coroutine.running())
            return
        end
        if cmd == "wake" then skynet.wakeup(parked) end
        if cmd == "spin" then hot(...) end
        skynet.retpack(true)
    end)
end)
