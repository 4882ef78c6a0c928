-- The C++ gate (services/gate/) driven from Lua exactly as skynet code drives a gate: a watchdog
-- launches it and opens it with a conf, agents forward their connection to themselves and
-- receive "client" messages; the clients here are real sockets. open/data/close/kick/forward/
-- accept, maxclient, netpack framing and lines mode.
local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "tlib"
require "skynet.manager" -- skynet.launch

local function packet(s) return string.pack(">s2", s) end

-- One reply packet from the agent, or nil when the connection closed.
local function reply(id)
    local h = socket.read(id, 2)
    if not h then return nil end
    return socket.read(id, string.unpack(">I2", h))
end

t.run(function()
    local watchdog = skynet.newservice("helper_gate_watchdog")
    local port = skynet.call(watchdog, "lua", "start",
        { address = "127.0.0.1", port = 0, maxclient = 2, nodelay = true }, "agent")
    t.ok(math.type(port) == "integer" and port > 0, "open returns the bound port")

    -- Forwarded packets: several in one write, one split mid-header; each reaches the agent as
    -- a "client" message with the fd as session and the client given to forward as source.
    local c1 = assert(socket.open("127.0.0.1", port))
    local fd1 = skynet.call(watchdog, "lua", "opened", 1)
    socket.write(c1, packet("hello") .. packet("") .. packet("x"):sub(1, 1))
    t.eq(reply(c1), fd1 .. " 7 hello", "first packet")
    t.eq(reply(c1), fd1 .. " 7 ", "empty packet")
    socket.write(c1, packet("x"):sub(2) .. packet(string.rep("z", 60000)))
    t.eq(reply(c1), fd1 .. " 7 x", "packet split over two writes")
    t.eq(reply(c1), fd1 .. " 7 " .. string.rep("z", 60000), "60000-byte packet")

    -- maxclient = 2: the third connection is closed by the gate without a notice.
    local c2 = assert(socket.open("127.0.0.1", port))
    local fd2 = skynet.call(watchdog, "lua", "opened", 2)
    local c3 = assert(socket.open("127.0.0.1", port))
    t.eq(socket.read(c3), false, "past maxclient the connection is closed")
    socket.close(c3)

    -- kick: the client sees the close, the watchdog hears "close".
    skynet.call(watchdog, "lua", "kick", fd2)
    t.ok(skynet.call(watchdog, "lua", "wait", "close " .. fd2), "close after kick")
    t.eq(reply(c2), nil, "kicked client is closed")
    socket.close(c2)

    -- The peer closing is reported as "close" too, and frees a place under maxclient.
    socket.close(c1)
    t.ok(skynet.call(watchdog, "lua", "wait", "close " .. fd1), "close after the peer left")
    local c4 = assert(socket.open("127.0.0.1", port))
    local fd4 = skynet.call(watchdog, "lua", "opened", 3)
    socket.write(c4, packet("again"))
    t.eq(reply(c4), fd4 .. " 7 again", "a place was freed")
    socket.close(c4)

    -- Lines mode, accept: each line goes to the watchdog as "data"; an overlong one is an error.
    local lines = skynet.newservice("helper_gate_watchdog")
    local lport = skynet.call(lines, "lua", "start",
        { address = "127.0.0.1", port = 0, mode = "lines", max_packet = 10 }, "accept")
    local l1 = assert(socket.open("127.0.0.1", lport))
    local lfd = skynet.call(lines, "lua", "opened", 1)
    socket.write(l1, "look\r\nsay hi\n")
    t.ok(skynet.call(lines, "lua", "wait", "data " .. lfd .. " look"), "line with CR LF")
    t.ok(skynet.call(lines, "lua", "wait", "data " .. lfd .. " say hi"), "line with LF")
    socket.write(l1, string.rep("w", 11) .. "\n")
    t.ok(skynet.call(lines, "lua", "wait", "error " .. lfd .. " line longer than 10 bytes"),
        "overlong line")
    t.eq(socket.read(l1), false, "the connection is closed after the error")
    socket.close(l1)

    -- Bad commands raise errors that say what is wrong.
    local gate = skynet.call(lines, "lua", "gate")
    t.raises({ "gate: forward: no connection 99999" }, skynet.call, gate, "lua", "forward", 99999)
    t.raises({ "gate: open: already listening" }, skynet.call, gate, "lua", "open", { port = 0 })
    t.raises({ "gate: open: conf.mode must be" }, skynet.call, skynet.launch("gate"), "lua",
        "open", { port = 0, mode = "binary" })
    t.raises({ "gate: unpack: argument 2, field tls: a table inside a table" }, skynet.call,
        skynet.launch("gate"), "lua", "open", { port = 0, tls = { cert = "x" } })
    -- skynet.pack writes a float that holds an integer as a float: the gate takes it.
    local fgate = skynet.launch("gate")
    t.ok(skynet.call(fgate, "lua", "open", { address = "127.0.0.1", port = 0.0 }) > 0,
        "a float port with an integer value")
end)
