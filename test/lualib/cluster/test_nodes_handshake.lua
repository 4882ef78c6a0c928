-- Making a link, against fake peers written here over real loopback TCP: a peer that sends
-- calls before it has proved itself is closed at once (nothing is held for it until the
-- handshake's deadline); both ends dialing at once while calls arrive leaves a link that dials
-- again after it drops; a peer that refuses a dial as crossing links and never dials back gets
-- the queued call dialed again; a node reloaded with another address is dialed there; nodes
-- with different message limits send each other only what the other takes.
local skynet = require "skynet"
local socket = require "skynet.socket"
local frame = require "skynet.cluster.frame"
local cluster = require "skynet.cluster"
local t = require "tlib"

-- Reads one frame's body from socket c; nil once it closed.
local function body(c)
    local head = socket.read(c, 4)
    if not head then return nil end
    return socket.read(c, string.unpack(">I4", head))
end

-- A listener that runs serve(c) on each connection it accepts. -> its address, and a table
-- counting the connections (accepted) and those that the node closed (closed).
local function listener(serve)
    local id, host, port = socket.listen("127.0.0.1", 0)
    local seen = { accepted = 0, closed = 0 }
    socket.start(id, function(c)
        seen.accepted = seen.accepted + 1
        socket.start(c)
        serve(c, seen)
    end)
    return string.format("%s:%d", host, port), seen
end

-- The acceptor's side of the handshake as node `name` (no secret); then reads until the node
-- closes the connection.
local function welcome(name)
    return function(c, seen)
        t.eq(body(c):byte(1), frame.HELLO, "HELLO first")
        socket.write(c, frame.control(frame.CHALLENGE, name, "1", string.rep("n", 16), ""))
        t.eq(body(c):byte(1), frame.PROOF, "PROOF next")
        socket.write(c, frame.control(frame.WELCOME))
        while body(c) do end
        seen.closed = seen.closed + 1
    end
end

-- A REQUEST frame of `size` bytes of payload to service handle 1 (skynet.cluster.core's layout).
local function request_frame(size)
    local data = string.rep("x", size)
    local b = string.pack(">BI4BI4BI4", 16, 0, 1, #data, 0, 1) .. data
    return string.pack(">I4", #b) .. b
end

local function stat(clusterd, peer)
    return skynet.call(skynet.call(clusterd, "lua", "LINK", peer), "lua", "STAT")
end

t.run(function()
    local target = skynet.newservice "helper_cluster_target"
    skynet.name(".target", target)

    -- Calls before the PROOF: the connection closes at once, not at the handshake's deadline
    -- (3 s here), and nothing of them is kept meanwhile.
    local s = skynet.newservice "clusterd"
    local saddr = skynet.call(s, "lua", "OPEN", { name = "s", listen = "127.0.0.1:0",
        secret = "s3cret", peer_timeout = 3000, nodes = { a = "127.0.0.1:1" } })
    local c = assert(socket.open(saddr))
    socket.write(c, frame.control(frame.HELLO, frame.VERSION, "a", "e1", string.rep("n", 16)))
    t.eq(body(c):byte(1), frame.CHALLENGE, "the node challenges")
    local t0 = skynet.now()
    for _ = 1, 20 do socket.write(c, request_frame(100000)) end
    while body(c) do end
    t.ok((skynet.now() - t0) * 10 < 1500, string.format(
        "closed %d ms after calls came before the PROOF", (skynet.now() - t0) * 10))
    socket.close(c)

    -- Both ends dial at once while calls keep arriving: the node whose name sorts last (z)
    -- takes the peer's connection and drops its own dial, which yields; a call arriving then
    -- starts another dial. After the link drops, a call must dial again.
    local held = {} -- the fake a holds z's first dial: it reads the HELLO and never answers
    local aaddr, aseen = listener(function(conn)
        held[#held + 1] = conn
        while body(conn) do end
    end)
    local z = skynet.newservice "clusterd"
    local zaddr = skynet.call(z, "lua", "OPEN", { name = "z", listen = "127.0.0.1:0",
        heartbeat = 100, peer_timeout = 3000, nodes = { a = aaddr } })
    local zlink = skynet.call(z, "lua", "LINK", "a")
    skynet.send(zlink, "cluster", ".target", "first")
    t.wait_until(function() return aseen.accepted == 1 end, 200, "z dials a")
    local pushing = true
    skynet.fork(function()
        while pushing do
            skynet.send(zlink, "cluster", ".target", "push")
            skynet.yield()
        end
    end)
    skynet.sleep(5)
    local conn = assert(socket.open(zaddr))
    socket.write(conn, frame.control(frame.HELLO, frame.VERSION, "a", "e1", string.rep("n", 16)))
    t.eq(body(conn):byte(1), frame.CHALLENGE, "z accepts a's dial")
    socket.write(conn, frame.control(frame.PROOF, ""))
    t.eq(body(conn):byte(1), frame.WELCOME, "and welcomes it")
    skynet.fork(function() while body(conn) do end end)
    skynet.sleep(30)
    pushing = false
    skynet.sleep(10)
    t.ok(stat(z, "a").up, "the link is up on a's connection")
    local dials = aseen.accepted
    socket.close(conn)
    t.wait_until(function() return not stat(z, "a").up end, 300, "the link drops")
    skynet.fork(function() pcall(skynet.call, zlink, "cluster", ".target", "echo", 1) end)
    t.wait_until(function() return aseen.accepted > dials end, 300,
        "a call after the drop dials again")
    for _, h in ipairs(held) do socket.close(h) end

    -- A peer that refuses the dial as crossing links and never dials back: the queued call
    -- dials again within peer_timeout instead of waiting for another call.
    local refusals = 0
    local caddr, cseen = listener(function(cn)
        body(cn)
        if refusals == 0 then
            refusals = 1
            socket.write(cn, frame.control(frame.REFUSE, "crossing links: the one dialed by b stays"))
            socket.close(cn)
            return
        end
        socket.write(cn, frame.control(frame.CHALLENGE, "b", "1", string.rep("n", 16), ""))
        body(cn)
        socket.write(cn, frame.control(frame.WELCOME))
        while body(cn) do end
    end)
    local y = skynet.newservice "clusterd"
    skynet.call(y, "lua", "OPEN", { name = "y", listen = "127.0.0.1:0", heartbeat = 100,
        peer_timeout = 500, nodes = { b = caddr } })
    skynet.send(skynet.call(y, "lua", "LINK", "b"), "cluster", ".target", "queued")
    t.wait_until(function() return cseen.accepted == 2 end, 300,
        "dialed again after a crossing refusal with no dial back")
    t.wait_until(function() return stat(y, "b").up end, 300, "and linked")

    -- A static list reloaded with another address for a node: the link to the old address
    -- closes and the next call dials the new one.
    local oaddr, oseen = listener(welcome("d"))
    local naddr, nseen = listener(welcome("d"))
    local x = skynet.newservice "clusterd"
    skynet.call(x, "lua", "OPEN", { name = "x", listen = "127.0.0.1:0", nodes = { d = oaddr } })
    local xlink = skynet.call(x, "lua", "LINK", "d")
    skynet.send(xlink, "cluster", ".target", "to the old address")
    t.wait_until(function() return stat(x, "d").up end, 300, "linked to the old address")
    skynet.call(x, "lua", "RELOAD", { d = naddr })
    t.wait_until(function() return oseen.closed == 1 end, 300, "the old address's link closes")
    skynet.send(xlink, "cluster", ".target", "to the new address")
    t.wait_until(function() return nseen.accepted == 1 and stat(x, "d").up end, 300,
        "the new address dialed")
    t.eq(oseen.accepted, 1, "the old address dialed once")

    -- Nodes with different cluster_max_message: each learns the other's at the handshake, so a
    -- message over the peer's limit fails at its caller and the link stays up (the peer would
    -- have closed the link on it, failing every call in flight).
    local small = skynet.newservice "clusterd"
    local big = skynet.newservice "clusterd"
    local smaddr = skynet.call(small, "lua", "OPEN", { name = "small", listen = "127.0.0.1:0",
        max_message = 1 << 20 })
    local bgaddr = skynet.call(big, "lua", "OPEN", { name = "big", listen = "127.0.0.1:0",
        max_message = 16 << 20 })
    skynet.call(small, "lua", "RELOAD", { big = bgaddr })
    skynet.call(big, "lua", "RELOAD", { small = smaddr })
    local to_small = skynet.call(big, "lua", "LINK", "small")
    t.eq(skynet.call(to_small, "cluster", ".target", "echo", "hi"), "hi", "linked")
    t.eq(skynet.call(to_small, "lua", "STAT").send_limit, 1 << 20, "big sends at most small's limit")
    local in_flight
    skynet.fork(function()
        in_flight = { pcall(skynet.call, to_small, "cluster", ".target", "sleep", 30) }
    end)
    skynet.sleep(5)
    local ok, err = pcall(skynet.call, to_small, "cluster", ".target", "size",
        string.rep("m", 2 << 20))
    t.ok(not ok and tostring(err):find("larger than cluster_max_message", 1, true),
        "2 MB to a node that takes 1 MB fails at the caller: " .. tostring(err))
    t.wait_until(function() return in_flight end, 300, "the call in flight")
    t.ok(in_flight[1], "the call in flight was answered: " .. tostring(in_flight[2]))
    t.ok(skynet.call(to_small, "lua", "STAT").up, "the link is still up")
    t.eq(skynet.call(to_small, "cluster", ".target", "size", string.rep("m", 512 << 10)), 512 << 10,
        "a message under both limits goes through")
    local to_big = skynet.call(small, "lua", "LINK", "big")
    t.eq(skynet.call(to_big, "lua", "STAT").send_limit, 1 << 20, "small keeps its own limit")
end)
