-- Reads and writes the datacenter from a service of its own (for test_datacenter):
--   GET path... -> datacenter.get(path...); SET path... value; WAIT path... -> datacenter.wait
local skynet = require "skynet"
local datacenter = require "skynet.datacenter"

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        if cmd == "GET" then
            skynet.retpack(datacenter.get(...))
        elseif cmd == "SET" then
            skynet.retpack(datacenter.set(...))
        else
            skynet.retpack(datacenter.wait(...))
        end
    end)
end)
