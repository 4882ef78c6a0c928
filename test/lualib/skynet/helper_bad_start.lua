-- Raises in its start function: newservice fails with this text and the service exits.
local skynet = require "skynet"
skynet.start(function()
    skynet.register ".bad_start"
    error("start exploded")
end)
