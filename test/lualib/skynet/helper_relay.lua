-- Forwards "relay target ..." as a call to target and answers with its result, so errors cross
-- two hops. Any other command raises in a plain send handler when it arrives with session 0.
local skynet = require "skynet"

skynet.start(function()
    skynet.dispatch("lua", function(session, _, cmd, target, ...)
        if cmd == "relay" then
            skynet.retpack(skynet.call(target, "lua", ...))
        elseif cmd == "fail_in_send" then
            assert(session == 0)
            error("send handler failed")
        elseif cmd == "ping" then
            skynet.retpack("pong")
        elseif cmd == "raise_table" then
            error(setmetatable({}, { __tostring = function() return "a table error" end }))
        end
    end)
end)
