-- An idle Lua service: loads skynet, starts, waits for messages that never come.
local skynet = require "skynet"
skynet.start(function() end)
