-- The game of one node: starts the world (Redis, presence, players) and the gate on the address
-- it is given, and registers as ".shutdown": on the node's SIGINT/SIGTERM the binary sends it
-- the text "shutdown" and waits while it stops the gate, saves every player, leaves presence
-- and then stops the node itself (skynet.abort): exit status 0, or 1 when a player could not be
-- saved. This service and the world are critical: the debug console does not kill them
-- without `force` (a node without them cannot play or save). Forced anyway, they stand in for
-- each other: this service starts a new world (which reloads players from Redis at their next
-- login; the agents are told to log in again), and the world takes over ".shutdown" when this
-- service is gone. Each learns of the other's end from a request that is never answered
-- ("watch"): a service that ends fails the requests it has not answered.
--
-- Args: host, port. Config: game_node (this node's name among the nodes sharing the Redis, and
-- its cluster name when the config opens the cluster; default "node<harbor>"), and what
-- game_db.lua and world.lua read.
-- Thread: a service.
local skynet = require "skynet"
local game_shutdown = require "game_shutdown"

local host, port = ...
local node = skynet.getenv "game_node" or ("node" .. (skynet.getenv "harbor" or "0"))
assert(node:match("^[%w_%-]+$"), "game_node must be letters, digits, _ or -")
-- The node's name is also its cluster name (world.lua opens the cluster with it).
local cname = skynet.getenv "cluster_name"
if cname and cname ~= node then
    error(string.format("config cluster_name = %q differs from the game's node name %q " ..
        "(game_node): the game serves the cluster under its node name; drop cluster_name or " ..
        "make them equal", cname, node), 0)
end

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

-- Starts a new world whenever the current one ends other than by shutdown, with a growing
-- pause between failed starts.
local function supervise()
    local pause = 10
    while not stopping do
        local _, err = pcall(skynet.call, world, "lua", "watch")
        if stopping then return end
        skynet.error(string.format("game: the world %s ended (%s); starting a new one",
            skynet.address(world), tostring(err)))
        local ok, w = pcall(skynet.newservice, "world", node, skynet.self())
        while not ok and not stopping do
            skynet.error("game: starting a world: " .. tostring(w))
            skynet.sleep(pause)
            pause = math.min(pause * 2, 1000)
            ok, w = pcall(skynet.newservice, "world", node, skynet.self())
        end
        if ok then
            pause = 10
            world = w
            skynet.send(gate, "lua", "world", world)
            skynet.error("game: world " .. skynet.address(world) .. " started")
        end
    end
end

skynet.start(function()
    -- Before the world starts: it calls "watch" at once.
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd == "watch" then
            skynet.wait(coroutine.running()) -- never answered: see the header
        elseif cmd == "shutdown" then
            skynet.fork(shutdown)
            skynet.retpack(true)
        else
            error("game: unknown command " .. tostring(cmd))
        end
    end)
    world = skynet.newservice("world", node, skynet.self())
    gate = skynet.newservice("gate", host, port, world, node)
    game_shutdown.take(shutdown)
    skynet.register(string.format(".critical.%08x", skynet.self()))
    skynet.fork(supervise)
end)
