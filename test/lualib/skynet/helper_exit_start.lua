-- Calls skynet.exit() in its start function at once (mode "now") or after a sleep (mode "late",
-- so the exit happens once the start function has yielded).
local skynet = require "skynet"
local mode = ...

skynet.start(function()
    if mode == "late" then skynet.sleep(1) end
    skynet.exit()
end)
