-- The world as the other nodes see it: the node's cluster name "@world" (skynet.cluster). Any
-- authenticated peer may call a registered name, so the world itself is not registered: this
-- entry passes on only the commands meant for peers (peer_tell, peer_gold, peer_golds) and
-- answers any other with an error naming it. A passed call keeps the caller's source and
-- session, so the world answers the caller's link itself and no coroutine waits here.
--
-- Args: the world's handle. Ends with its world (the world starts a new entry when restarted).
-- Thread: this service only.
local skynet = require "skynet"

local world = math.tointeger(tonumber((...)))
assert(world, "world_peer: the world's handle expected")

local FOR_PEERS = { peer_tell = true, peer_gold = true, peer_golds = true }

skynet.start(function()
    skynet.dispatch("lua", function(session, source, cmd, ...)
        if not FOR_PEERS[cmd] then
            error(string.format("world: %s is not a command for peers", tostring(cmd)), 0)
        end
        if session > 0 then skynet.ignoreret() end
        skynet.redirect(world, source, "lua", session, skynet.packstring(cmd, ...))
    end)
    skynet.fork(function()
        -- never answered while the world lives: an error means it has ended
        pcall(skynet.call, world, "lua", "watch")
        skynet.exit()
    end)
end)
