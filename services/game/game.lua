-- The game of one node: starts the world (Redis, presence, players) and the gate on the address
-- it is given, and registers as ".shutdown": on the node's SIGINT/SIGTERM the binary sends it
-- the text "shutdown" and waits while it stops the gate, saves every player, leaves presence
-- and then stops the node itself (skynet.abort): exit status 0, or 1 when a player could not be
-- saved. This service and the world are critical: the debug console does not kill them
-- without `force` (a node without them cannot play or save).
--
-- Args: host, port. Config: game_node (this node's name among the nodes sharing the Redis;
-- default "node<harbor>"), and what game_db.lua and world.lua read.
-- Thread: a service.
local skynet = require "skynet"

local host, port = ...
local node = skynet.getenv "game_node" or ("node" .. (skynet.getenv "harbor" or "0"))
assert(node:match("^[%w_%-]+$"), "game_node must be letters, digits, _ or -")

local world, gate
local stopping = false

local function shutdown()
    if stopping then return end
    stopping = true
    skynet.error("game: shutting down: saving players")
    pcall(skynet.call, gate, "lua", "stop")
    local ok, failed = pcall(skynet.call, world, "lua", "stop")
    if not ok then
        skynet.error("game: stopping the world: " .. tostring(failed))
        skynet.abort(1)
    elseif failed and failed > 0 then
        skynet.error(string.format("game: %d player(s) could not be saved", failed))
        skynet.abort(1)
    else
        skynet.abort(0)
    end
end

skynet.register_protocol {
    name = "text",
    id = skynet.PTYPE_TEXT,
    unpack = skynet.tostring,
    dispatch = function(_, _, msg)
        if msg == "shutdown" then skynet.fork(shutdown) end
    end,
}

skynet.start(function()
    world = skynet.newservice("world", node)
    gate = skynet.newservice("gate", host, port, world, node)
    skynet.register ".shutdown"
    skynet.register(string.format(".critical.%08x", skynet.self()))
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd ~= "shutdown" then error("game: unknown command " .. tostring(cmd)) end
        skynet.fork(shutdown)
        skynet.retpack(true)
    end)
end)
