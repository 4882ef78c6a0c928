-- Stands in for a player's agent (services/game/agent.lua) in front of the world: answers the
-- world's "hash" and "verify" during a login (no KDF: the password is kept as given), and
-- collects the notices and kicks the world sends (lines).
local skynet = require "skynet"

local password = ...
local lines = {}

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, arg)
        if cmd == "hash" then
            skynet.retpack("plain:" .. password)
        elseif cmd == "verify" then
            skynet.retpack(arg == "plain:" .. password, nil)
        elseif cmd == "notice" or cmd == "kick" then
            lines[#lines + 1] = arg
        elseif cmd == "lines" then
            skynet.retpack(lines)
        end
    end)
end)
