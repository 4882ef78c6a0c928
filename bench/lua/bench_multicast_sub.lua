-- A subscriber for bench_multicast: counts what it receives from a channel (SUB id) or as lua
-- MSG sends; WAIT n answers once n have arrived; RESET starts the count again.
local skynet = require "skynet"
local multicast = require "skynet.multicast"

local received, want, waiting = 0, nil, nil
local channel

local function got()
    received = received + 1
    if waiting and received >= want then
        local r = waiting
        waiting = nil
        r(true)
    end
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, arg)
        if cmd == "MSG" then
            got()
        elseif cmd == "SUB" then
            channel = multicast.new { channel = arg, dispatch = got }
            channel:subscribe()
            skynet.retpack()
        elseif cmd == "RESET" then
            received = 0
            skynet.retpack()
        elseif received >= arg then
            skynet.retpack()
        else
            want, waiting = arg, skynet.response()
        end
    end)
end)
