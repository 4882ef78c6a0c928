-- Stands in for the game's world (services/game/world.lua) behind world_peer: answers the
-- peer commands, a command peers must not reach (stop), and watch (never answered, as the
-- world's), and tells which commands reached it (calls).
local skynet = require "skynet"

local reached = {}
local CMD = {}

function CMD.peer_tell(to, from, from_node, text)
    reached[#reached + 1] = table.concat({ "peer_tell", to, from, from_node, text }, " ")
    return true, to:upper()
end
function CMD.peer_gold(to, from, amount)
    reached[#reached + 1] = table.concat({ "peer_gold", to, from, amount }, " ")
    return true
end
function CMD.peer_golds(list)
    for _, n in ipairs(list) do
        reached[#reached + 1] = table.concat({ "peer_golds", n[1], n[2], n[3] }, " ")
    end
    return #list
end
function CMD.stop()
    reached[#reached + 1] = "stop"
    return {}
end
function CMD.watch() skynet.wait(coroutine.running()) end
function CMD.calls() return table.concat(reached, ", ") end

skynet.start(function()
    skynet.dispatch("lua", function(session, _, cmd, ...)
        local f = CMD[cmd]
        if session == 0 then return f(...) end
        skynet.retpack(f(...))
    end)
end)
