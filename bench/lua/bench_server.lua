-- The callee of the Lua benchmarks: answers every call with its argument, counts sends.
local skynet = require "skynet"

local count = 0
skynet.start(function()
    skynet.dispatch("lua", function(session, _, v)
        if session == 0 then
            count = count + 1
        elseif v == "count" then
            skynet.retpack(count)
        else
            skynet.retpack(v)
        end
    end)
end)
