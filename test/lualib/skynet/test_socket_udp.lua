-- skynet.socket UDP on 127.0.0.1: sendto and the sender's address, udp_connect (default peer,
-- other senders ignored), address helpers and their errors, close.
local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "tlib"

t.run(function()
    local got = {}
    local a, aport = socket.udp(function(data, from) got[#got + 1] = { data = data, from = from } end,
        "127.0.0.1", 0)
    t.ok(aport > 0, "bound port")
    local b, bport
    b, bport = socket.udp(function(data, from)
        t.ok(socket.sendto(b, from, "re:" .. data), "reply with the sender's address")
    end, "127.0.0.1")
    t.ok(bport > 0 and bport ~= aport, "second port")

    local to_b = assert(socket.udp_target("127.0.0.1", bport))
    t.ok(socket.sendto(a, to_b, "hello"), "sendto")
    t.wait_until(function() return #got == 1 end, 500, "the reply")
    t.eq(got[1].data, "re:hello", "datagram content")
    local ip, p = socket.udp_address(got[1].from)
    t.eq(ip, "127.0.0.1", "sender ip")
    t.eq(p, bport, "sender port")

    -- Binary payloads and an empty datagram survive.
    local binary = "\0\1\2\255" .. string.rep("z", 1000)
    socket.sendto(a, to_b, binary)
    t.wait_until(function() return #got == 2 end, 500, "binary reply")
    t.eq(got[2].data, "re:" .. binary, "binary datagram")

    -- udp_connect: write() goes to the peer; datagrams from anyone else are dropped.
    socket.udp_connect(a, "127.0.0.1", bport)
    t.ok(socket.write(a, "connected"), "write to the default peer")
    t.wait_until(function() return #got == 3 end, 500, "reply to write")
    t.eq(got[3].data, "re:connected", "reply via the default peer")
    local stray = socket.udp(function() end, "127.0.0.1")
    socket.sendto(stray, assert(socket.udp_target("127.0.0.1", aport)), "stray")
    socket.write(a, "after stray")
    t.wait_until(function() return #got == 4 end, 500, "reply after the stray datagram")
    t.eq(got[4].data, "re:after stray", "the stray datagram was ignored")

    -- Address helpers refuse what they cannot use.
    local none, err = socket.udp_target("localhost", 53)
    t.eq(none, nil, "udp_target needs a numeric host")
    t.ok(err:find("localhost:53", 1, true), "error names host:port: " .. err)
    t.raises({ "not a UDP address" }, socket.sendto, a, "junk", "x")
    t.raises({ "not a UDP address" }, socket.udp_address, "")

    -- IPv6 loopback, when the host has it.
    local ok6, id6 = pcall(socket.udp, function() end, "::1", 0)
    if ok6 then
        local v6 = assert(socket.udp_target("::1", 9))
        t.eq(#v6, 19, "IPv6 compact address")
        t.eq(select(1, socket.udp_address(v6)), "::1", "IPv6 address text")
        socket.close(id6)
    end

    for _, id in ipairs { a, b, stray } do
        socket.close(id)
        t.ok(socket.invalid(id), "closed udp socket")
    end
    t.eq(socket.sendto(b, to_b, "late"), false, "sendto on a closed socket")
end)
