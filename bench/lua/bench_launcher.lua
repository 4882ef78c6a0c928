-- Launches the number of services it is asked for, one after another, and answers when done.
local skynet = require "skynet"
local script = ...

skynet.start(function()
    skynet.dispatch("lua", function(_, _, count)
        for _ = 1, count do skynet.newservice(script) end
        skynet.retpack(count)
    end)
end)
