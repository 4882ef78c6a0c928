-- The game's gate: the watchdog of a C++ gate (services/gate) in "lines" mode. The C++ gate
-- listens and cuts what players type into lines on the socket thread; this service gives each
-- connection an agent, to which the gate forwards the lines as "client" messages. Logs
-- "game: listening on host:port" and how to connect.
--   stop()     stops accepting; disconnects players not logged in (node shutdown: the world
--              kicks the others once their progress is saved)
--   gone(h)    an agent ended (sent by the agent)
--   world(h)   a new world replaced one that ended: agents use it from now on
--
-- Back-pressure (hold): past the write high-water mark (config socket_warning_kb) the agent has
-- the gate stop reading its connection (the gate's pause), so that its client is held by TCP flow
-- control; once the output drains reading resumes; past four times the mark the connection is
-- dropped with a log line naming the peer.
--
-- Args: host, port (0: the kernel picks), world handle, node name.
-- Thread: a service.
local skynet = require "skynet"
require "skynet.manager" -- skynet.launch
local driver = require "skynet.socketdriver"

local host, port, world, node = ...
port = math.tointeger(tonumber(port))
assert(host and port and port >= 0 and port <= 65535, "gate: host and port expected")

-- The longest line: the C++ gate hands a longer one out cut to MAX_LINE + 1 bytes and drops
-- the rest up to its end (skip_long); the agent answers it as too long.
local MAX_LINE = 512
local MARK_KB = math.tointeger(tonumber(skynet.getenv "socket_warning_kb" or "")) or 1024
local LIMIT_KB = 4 * MARK_KB

local gate
local agents = {} -- handle -> fd
local connections = {} -- fd -> { peer = "ip:port", agent = handle | nil }
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
    skynet.call(gate, "lua", "close")
    -- Players logged in are kicked by the world once their save is done; the others now.
    for agent in pairs(agents) do skynet.send(agent, "lua", "shutdown") end
end

local SOCKET = {}

function SOCKET.open(fd, peer)
    if stopping then return skynet.send(gate, "lua", "kick", fd) end
    local c = { peer = peer }
    connections[fd] = c
    local ok, agent = pcall(skynet.newservice, "agent", fd, peer, world, skynet.self(), node, gate)
    if not ok then
        skynet.error(string.format("game: no agent for %s: %s", peer, tostring(agent)))
        connections[fd] = nil
        return skynet.send(gate, "lua", "kick", fd)
    end
    agents[agent] = fd
    if connections[fd] ~= c then
        -- Gone while the agent started: it has no client.
        return skynet.send(agent, "lua", "closed")
    end
    c.agent = agent
    skynet.call(gate, "lua", "forward", fd, 0, agent)
end

local function closed(fd)
    local c = connections[fd]
    if not c then return end
    connections[fd] = nil
    if c.agent then skynet.send(c.agent, "lua", "closed") end
end

function SOCKET.close(fd)
    closed(fd)
end

function SOCKET.error(fd, text)
    local c = connections[fd]
    if c then skynet.error(string.format("game: %s: %s", c.peer, tostring(text))) end
    closed(fd)
end

function SOCKET.warning(fd, kb)
    local c = connections[fd]
    if not c then return end
    if kb >= LIMIT_KB then
        skynet.error(string.format("%s: %d KB unsent (limit %d KB), the client does not read: " ..
            "disconnecting", c.peer, kb, LIMIT_KB))
        driver.shutdown(fd) -- queued output is dropped; the gate then reports the close
    elseif kb > 0 then
        skynet.error(string.format("%s: %d KB unsent: not reading until the client catches up",
            c.peer, kb))
        if c.agent then skynet.send(c.agent, "lua", "held", true) end
    elseif c.agent then
        skynet.send(c.agent, "lua", "held", false)
    end
end

function SOCKET.data()
    -- Only connections not yet forwarded reach here, and the gate does not read those.
end

skynet.start(function()
    gate = skynet.launch("gate")
    local bound = skynet.call(gate, "lua", "open", {
        address = host, port = port, maxclient = 1 << 20, watchdog = skynet.self(),
        mode = "lines", max_packet = MAX_LINE, skip_long = true, halfclose = true, window = 64,
        nodelay = true, -- a reply must not wait for the ACK of a notice written just before
    })
    skynet.error(string.format("game: listening on %s:%d", host, bound))
    local shown = (host == "0.0.0.0" or host == "::") and "127.0.0.1" or host
    skynet.error(string.format("play: telnet %s %d", shown, bound))
    skynet.dispatch("lua", function(_, _, cmd, sub, ...)
        if cmd == "socket" then
            local f = SOCKET[sub]
            if f then f(...) end
            return
        end
        local f = CMD[cmd]
        if not f then error("gate: unknown command " .. tostring(cmd)) end
        skynet.retpack(f(sub, ...))
    end)
end)
