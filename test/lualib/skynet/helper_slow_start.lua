-- Registers .slow_start at once, then sleeps in its start function until killed; with an
-- argument "exit" it exits inside start instead (its newservice then returns nil).
local skynet = require "skynet"
local mode = ...

skynet.register ".slow_start"
skynet.start(function()
    if mode == "exit" then
        skynet.sleep(1)
        skynet.exit()
    end
    skynet.sleep(100000)
end)
