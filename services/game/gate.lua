-- The game's gate: listens for players and gives each connection an agent service, which takes
-- the socket over. Logs "game: listening on host:port" and how to connect.
--   stop()     stops accepting; disconnects players not logged in (node shutdown: the world
--              kicks the others once their progress is saved)
--   gone(h)    an agent ended (sent by the agent)
--   world(h)   a new world replaced one that ended: agents use it from now on
--
-- Args: host, port (0: the kernel picks), world handle, node name.
-- Thread: a service.
local skynet = require "skynet"
local socket = require "skynet.socket"

local host, port, world, node = ...
port = math.tointeger(tonumber(port))
assert(host and port and port >= 0 and port <= 65535, "gate: host and port expected")

local listener
local agents = {} -- handle -> true
local stopping = false

local CMD = {}

function CMD.gone(agent)
    agents[agent] = nil
end

function CMD.world(handle)
    world = handle
    for agent in pairs(agents) do skynet.send(agent, "lua", "world", world) end
end

function CMD.stop()
    stopping = true
    if listener then
        socket.close(listener)
        listener = nil
    end
    -- Players logged in are kicked by the world once their save is done; the others now.
    for agent in pairs(agents) do skynet.send(agent, "lua", "shutdown") end
end

local function accept(id, addr)
    if stopping then return socket.close_fd(id) end
    local ok, agent = pcall(skynet.newservice, "agent", id, addr, world, skynet.self(), node)
    if not ok then
        skynet.error(string.format("game: no agent for %s: %s", addr, tostring(agent)))
        return socket.close_fd(id)
    end
    agents[agent] = true
end

skynet.start(function()
    local id, _, bound = socket.listen(host, port)
    listener = id
    socket.start(listener, accept)
    skynet.error(string.format("game: listening on %s:%d", host, bound))
    local shown = (host == "0.0.0.0" or host == "::") and "127.0.0.1" or host
    skynet.error(string.format("play: telnet %s %d", shown, bound))
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error("gate: unknown command " .. tostring(cmd)) end
        skynet.retpack(f(...))
    end)
end)
