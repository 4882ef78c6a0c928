-- A service meant to exist once: a second launch fails (setenv of an existing key raises), so a
-- uniqueservice that launched twice would be caught.
local skynet = require "skynet"
local key = "unique_launched_" .. (... or "")
skynet.setenv(key, "yes")

skynet.start(function()
    skynet.sleep(2)  -- widen the window in which concurrent requests must wait
    skynet.dispatch("lua", function() skynet.retpack(skynet.self()) end)
end)
