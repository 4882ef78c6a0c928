-- Links to peers that misbehave, against cluster services of one process and fake peers written
-- here over real loopback TCP: a peer that stops answering (heartbeat timeout), a peer that sends
-- garbage (its link closes, the node serves the others), a peer that stops reading (the send
-- queue fills and calls fail at once), a peer that never answers the handshake (the calls
-- queued meanwhile are bounded, and fail), wrong and missing secrets, a peer that is not on
-- loopback when there is no secret, a peer whose calls a service holds unanswered (bounded by
-- cluster_max_serving), a node that stops while calls wait for a connection.
local skynet = require "skynet"
local socket = require "skynet.socket"
local frame = require "skynet.cluster.frame"
local cluster = require "skynet.cluster"
local t = require "tlib"

-- A fake node named `name`: runs the acceptor's side of the handshake (no secret), then `mode`:
-- "silent" reads but never writes, "deaf" neither reads nor writes, "garbage" sends a frame of
-- an unknown kind. -> its address, and a table counting the connections it accepted.
local function fake_peer(name, mode)
    local id, host, port = socket.listen("127.0.0.1", 0)
    local seen = { accepted = 0 }
    socket.start(id, function(c)
        seen.accepted = seen.accepted + 1
        socket.start(c)
        local function body()
            local head = socket.read(c, 4)
            if not head then return nil end
            return socket.read(c, string.unpack(">I4", head))
        end
        t.eq(body():byte(1), frame.HELLO, "HELLO first")
        socket.write(c, frame.control(frame.CHALLENGE, name, "1", string.rep("n", 16), ""))
        t.eq(body():byte(1), frame.PROOF, "PROOF next")
        socket.write(c, frame.control(frame.WELCOME))
        if mode == "garbage" then
            socket.write(c, "\0\0\0\5\99junk")
        elseif mode == "deaf" then
            socket.pause(c)
            return
        end
        while body() do end
    end)
    return string.format("%s:%d", host, port), seen
end

local LOST = "connection lost: may or may not have executed"

t.run(function()
    local target = skynet.newservice "helper_cluster_target"
    skynet.name(".target", target)
    local b = skynet.newservice "clusterd"
    local baddr = skynet.call(b, "lua", "OPEN", { name = "b", listen = "127.0.0.1:0" })

    local silent = fake_peer("silent", "silent")
    local garbage = fake_peer("garbage", "garbage")
    local deaf = fake_peer("deaf", "deaf")
    cluster.open { name = "a", listen = "127.0.0.1:0", heartbeat = 100, peer_timeout = 600 }
    cluster.reload { b = baddr, silent = silent, garbage = garbage }

    -- A peer that stops answering is found by the heartbeat: its pending call fails within
    -- peer_timeout (and a bit), not never.
    local t0 = skynet.now()
    t.raises({ "node silent: " .. LOST }, cluster.call, "silent", ".x", "anything")
    local waited = (skynet.now() - t0) * 10
    skynet.error(string.format("a silent peer's call failed after %d ms", waited))
    t.ok(waited >= 500 and waited < 1500, "failed after about peer_timeout: " .. waited)

    -- A peer that sends garbage: its link closes with a log line, its pending call fails, and
    -- the node goes on serving the other peers.
    t.raises({ "node garbage: " .. LOST }, cluster.call, "garbage", ".x", "anything")
    t.eq(cluster.call("b", ".target", "echo", "still"), "still", "others still served")

    -- Garbage sent to this node's listener instead of a HELLO: refused, nothing else changes.
    local aaddr = skynet.call(skynet.uniqueservice "clusterd", "lua", "SELF").address
    local g = assert(socket.open(aaddr))
    socket.write(g, "\0\0\0\9GET / HTTP/1.1\r\n\r\n")
    t.eq(socket.read(g), false, "garbage connection closed by the node")
    socket.close(g)
    local g2 = assert(socket.open(aaddr))
    socket.write(g2, "\255\255\255\255")
    t.eq(socket.read(g2), false, "an over-long frame closes it too")
    socket.close(g2)
    t.eq(cluster.call("b", ".target", "echo", "still"), "still", "others still served")

    -- A peer that stops reading: the link's write queue passes cluster_send_queue and calls fail
    -- at once with "send queue full" instead of queueing without bound.
    local c = skynet.newservice "clusterd"
    skynet.call(c, "lua", "OPEN", { name = "c", listen = "127.0.0.1:0", send_queue_kb = 256,
        peer_timeout = 60000, nodes = { deaf = deaf } })
    local link = skynet.call(c, "lua", "LINK", "deaf")
    local chunk = string.rep("q", 60000)
    local full_text, sent = nil, 0
    for _ = 1, 2000 do
        local okc, e = pcall(skynet.calltimeout, 1, link, "cluster", ".x", "size", chunk)
        if not okc and e:find("send queue full", 1, true) then
            full_text = e
            break
        end
        sent = sent + 1
        if sent % 16 == 0 then skynet.yield() end
    end
    t.ok(full_text and full_text:find("node deaf: send queue full (256 KB)", 1, true),
        "send queue full: " .. tostring(full_text))
    skynet.error(string.format("send queue full after %d calls of 60 KB", sent))
    local t1 = skynet.hpc()
    t.raises({ "node deaf: send queue full (256 KB)" }, skynet.call, link, "cluster", ".x", "y")
    t.ok(skynet.hpc() - t1 < 50000000, "a full queue fails the call at once")
    skynet.call(link, "lua", "CLOSE")

    -- Calls queued while the link connects are bounded too, and fail when the handshake does
    -- not finish: a listener that accepts (the kernel does) but never answers the HELLO.
    local mute_id, mute_host, mute_port = socket.listen("127.0.0.1", 0)
    local q = skynet.newservice "clusterd"
    skynet.call(q, "lua", "OPEN", { name = "q", listen = "127.0.0.1:0", send_queue_kb = 4,
        peer_timeout = 500, heartbeat = 100,
        nodes = { mute = string.format("%s:%d", mute_host, mute_port) } })
    local qlink = skynet.call(q, "lua", "LINK", "mute")
    local first
    skynet.fork(function()
        first = table.pack(pcall(skynet.call, qlink, "cluster", ".x", string.rep("a", 3000)))
    end)
    t.wait_until(function() return skynet.call(qlink, "lua", "STAT").queued == 1 end, 100,
        "a call queued while connecting")
    t.raises({ "node mute: send queue full (4 KB)" }, skynet.call, qlink, "cluster", ".x",
        string.rep("b", 3000))
    t.wait_until(function() return first ~= nil end, 300, "the queued call ends")
    t.ok(not first[1] and first[2]:find("node mute: cannot connect to", 1, true)
        and first[2]:find("handshake timed out", 1, true), "queued call: " .. tostring(first[2]))
    socket.close(mute_id)

    -- Secrets: the same one links, a different one or none is refused on both sides.
    local function node(name, secret, peers)
        local d = skynet.newservice "clusterd"
        local addr = skynet.call(d, "lua", "OPEN", { name = name, listen = "127.0.0.1:0",
            secret = secret, nodes = peers or {} })
        return d, addr
    end
    local s1, s1addr = node("s1", "sesame")
    local s2 = node("s2", "sesame", { s1 = s1addr })
    local s3 = node("s3", "wrong", { s1 = s1addr })
    local s4 = node("s4", nil, { s1 = s1addr })
    skynet.call(s1, "lua", "REGISTER", "t", target)
    local function call_from(d, ...)
        return skynet.call(skynet.call(d, "lua", "LINK", "s1"), "cluster", ...)
    end
    t.eq(call_from(s2, "@t", "echo", "secret ok"), "secret ok", "the same secret links")
    t.raises({ "node s1: cannot connect to", "bad secret" }, call_from, s3, "@t", "echo", 1)
    t.raises({ "node s1: cannot connect to", "bad secret" }, call_from, s4, "@t", "echo", 1)
    t.eq(call_from(s2, "@t", "echo", "still"), "still", "the good link stays up")

    -- Without a secret only loopback peers are accepted: a node listening on every address is
    -- dialed through this machine's first non-loopback address, if it has one.
    local pipe = io.popen("hostname -I 2>/dev/null")
    local other = pipe and pipe:read("l")
    if pipe then pipe:close() end
    other = other and other:match("^(%d+%.%d+%.%d+%.%d+)")
    if other and not other:match("^127%.") then
        local open_node = skynet.newservice "clusterd"
        local oaddr = skynet.call(open_node, "lua", "OPEN", { name = "o", listen = "0.0.0.0:0" })
        local port = oaddr:match(":(%d+)$")
        local dialer = node("d", nil, { o = other .. ":" .. port })
        t.raises({ "node o: cannot connect to", "only loopback peers are accepted" },
            skynet.call, skynet.call(dialer, "lua", "LINK", "o"), "cluster", ".x", "y")
        local dialer2 = node("d2", nil, { o = "127.0.0.1:" .. port })
        skynet.call(open_node, "lua", "REGISTER", "t", target)
        t.eq(skynet.call(skynet.call(dialer2, "lua", "LINK", "o"), "cluster", "@t", "echo", "lo"),
            "lo", "the same node serves a loopback peer")
    else
        skynet.error("test_nodes_fault: no non-loopback address here: the loopback-only check skipped")
    end

    -- A caller whose calls a service of this node holds unanswered is bounded too: past
    -- cluster_max_serving the node refuses its calls at once, on the direct path (a call to
    -- ".target", handed out in C++) and through the link's Lua (an "@name"), and serves them
    -- again once the held ones are answered.
    local sv = skynet.newservice "clusterd"
    t.raises({ "cluster.open: option max_serving: a positive integer expected, got 0" },
        skynet.call, sv, "lua", "OPEN", { max_serving = 0 })
    local svaddr = skynet.call(sv, "lua", "OPEN", { name = "sv", listen = "127.0.0.1:0",
        max_serving = 3 })
    skynet.call(sv, "lua", "REGISTER", "t", target)
    local cl = node("cl", nil, { sv = svaddr })
    local svlink = skynet.call(cl, "lua", "LINK", "sv")
    t.eq(skynet.call(svlink, "cluster", ".target", "echo", "up"), "up", "the link is up")
    local held = 0
    for i = 1, 3 do
        skynet.fork(function()
            t.eq(skynet.call(svlink, "cluster", ".target", "sleep", 300, i), i, "a held call")
            held = held + 1
        end)
    end
    local full = "node sv: 3 calls of node cl already wait for an answer (cluster_max_serving)"
    t.wait_until(function() return skynet.call(target, "lua", "sleeping") == 3 end, 200,
        "the three held calls at the target (each held for 3 s)")
    t.raises({ full }, skynet.call, svlink, "cluster", ".target", "echo", "direct")
    t.raises({ full }, skynet.call, svlink, "cluster", "@t", "echo", "through Lua")
    skynet.send(svlink, "cluster", ".target", "note", "a push is not a call")
    t.wait_until(function() return held == 3 end, 500, "the held calls answered")
    t.eq(skynet.call(svlink, "cluster", ".target", "echo", "again"), "again", "served again")
    t.eq(skynet.call(svlink, "cluster", "@t", "echo", "again"), "again", "through Lua again")
    t.eq(skynet.call(target, "lua", "count"), 1, "the push reached its service")

    -- The node stops while a call is still queued for a link that is connecting (a listener
    -- that never answers the HELLO, with a handshake timeout longer than the test): the call's
    -- frames go with the link's Lua state (the sanitizer build reports them as leaked if not).
    local _, hold_host, hold_port = socket.listen("127.0.0.1", 0) -- open until the node stops
    local h = skynet.newservice "clusterd"
    skynet.call(h, "lua", "OPEN", { name = "h", listen = "127.0.0.1:0", peer_timeout = 60000,
        nodes = { hold = string.format("%s:%d", hold_host, hold_port) } })
    local hlink = skynet.call(h, "lua", "LINK", "hold")
    skynet.send(hlink, "cluster", ".x", "still queued at exit")
    t.wait_until(function() return skynet.call(hlink, "lua", "STAT").queued == 1 end, 100,
        "a push queued while connecting")
end, 6000)
