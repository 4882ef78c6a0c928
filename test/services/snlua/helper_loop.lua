-- Loops forever on request, in the handler itself or inside a coroutine of its own.
local skynet = require "skynet"

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd == "loop" then
            local n = 0
            while true do n = n + 1 end
        elseif cmd == "wrapped_loop" then
            coroutine.wrap(function()
                while true do end
            end)()
        elseif cmd == "ping" then
            skynet.retpack("pong", skynet.stat "endless")
        end
    end)
end)
