-- config: lua-test-monitor
-- The monitor breaks an endless loop in a handler with an error; the service lives on.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    local looper = skynet.newservice "helper_loop"
    local addr = skynet.address(looper)
    local pong, endless = skynet.call(looper, "lua", "ping")
    t.eq(pong, "pong", "ping")
    t.eq(endless, false, "not endless yet")

    t.raises({ "call to " .. addr .. " failed", "endless loop detected in " .. addr },
        skynet.call, looper, "lua", "loop")
    pong, endless = skynet.call(looper, "lua", "ping")
    t.eq(pong, "pong", "alive after the loop was broken")
    t.eq(endless, true, "stat endless")

    -- A loop inside a coroutine the handler made itself is found as well.
    t.raises({ "endless loop detected in " .. addr }, skynet.call, looper, "lua", "wrapped_loop")
    t.eq(skynet.call(looper, "lua", "ping"), "pong", "alive after the second loop")
end)
