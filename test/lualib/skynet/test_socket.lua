-- skynet.socket over real TCP on 127.0.0.1: a listener and clients in the same service, ports
-- picked by the kernel. read / readline / readall / block semantics across packet boundaries,
-- reads on closed sockets, close and shutdown, onclose, pause under a big transfer, handing a
-- connection to another service, connect failures.
local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "tlib"

local accepted = {} -- {id, addr} in accept order

local function next_conn()
    t.wait_until(function() return #accepted > 0 end, 500, "an accepted connection")
    local a = table.remove(accepted, 1)
    socket.start(a.id)
    return a.id, a.addr
end

-- The socket thread's view of one socket.
local function info(id)
    for _, s in ipairs(socket.netstat()) do
        if s.id == id then return s end
    end
end

-- Waits until the socket thread has read n bytes on id, then lets their data messages (queued
-- before our next timer message) be handled.
local function wait_read(id, n)
    t.wait_until(function() return info(id).read >= n end, 500, n .. " bytes read on " .. id)
    skynet.yield()
end

-- A connected pair: client id (ours, from open) and server id (accepted and started).
local function pair(port)
    local client = assert(socket.open("127.0.0.1", port))
    local server = next_conn()
    return client, server
end

t.run(function()
    local listener, host, port = socket.listen("127.0.0.1", 0)
    t.eq(host, "127.0.0.1", "listen host")
    t.ok(math.type(port) == "integer" and port > 0, "kernel-chosen port")
    socket.start(listener, function(id, addr)
        accepted[#accepted + 1] = { id = id, addr = addr }
    end)

    -- readline and read(n) across write boundaries.
    local client, server = pair(port)
    t.ok(socket.write(client, "hel"), "write")
    t.ok(socket.write(client, { "lo\nwor", "ld\r\n" }), "write a table")
    t.eq(socket.readline(server), "hello", "readline with the default separator")
    t.eq(socket.readline(server, "\r\n"), "world", "readline with a two-byte separator")
    socket.write(client, "0123")
    skynet.fork(function()
        skynet.sleep(2)
        socket.write(client, "456789abc")
    end)
    t.eq(socket.read(server, 10), "0123456789", "read(n) waits for n bytes")
    t.eq(socket.read(server), "abc", "read() returns what is buffered")
    -- A separator split over two packets.
    socket.write(client, "split\r")
    skynet.fork(function()
        skynet.sleep(1)
        socket.write(client, "\nnext\r\n")
    end)
    t.eq(socket.readline(server, "\r\n"), "split", "separator across packets")
    t.eq(socket.readline(server, "\r\n"), "next", "line after it")

    -- The other direction, and read() waiting for the first byte.
    skynet.fork(function() socket.write(server, "pong") end)
    t.eq(socket.read(client), "pong", "read() waits for data")

    -- block() returns true when bytes arrive.
    skynet.fork(function() socket.write(client, "x") end)
    t.eq(socket.block(server), true, "block wakes on data")
    t.eq(socket.read(server, 1), "x", "the byte block saw")

    -- The peer closes: buffered bytes come back with false; later reads return false, "".
    local closed_with
    socket.onclose(server, function(id, err) closed_with = { id = id, err = err } end)
    socket.write(client, "partial line")
    socket.close(client)
    t.ok(socket.invalid(client), "closed socket is invalid")
    t.wait_until(function() return socket.disconnected(server) end, 500, "the peer's close")
    local ok, rest = socket.read(server, 100)
    t.eq(ok, false, "read past the end")
    t.eq(rest, "partial line", "bytes buffered before the close")
    t.eq(closed_with and closed_with.id, server, "onclose ran with the id")
    t.eq(closed_with.err, nil, "no error text on a clean close")
    ok, rest = socket.readline(server)
    t.eq(ok, false, "readline on a closed socket")
    t.eq(rest, "", "nothing left")
    t.eq(socket.disconnected(server), true, "disconnected")
    t.eq(socket.block(server), false, "block on a closed socket")
    -- The id is still ours after the peer's FIN: we may still write, then close.
    t.eq(socket.invalid(server), false, "still open here until closed")
    socket.close(server)
    t.ok(socket.invalid(server), "invalid after close")

    -- readline on a socket closed mid-line, and readall.
    client, server = pair(port)
    socket.write(client, "line one\nunterminated")
    socket.close(client)
    t.eq(socket.readline(server), "line one", "complete line before the close")
    ok, rest = socket.readline(server)
    t.eq(ok, false, "unterminated line at close")
    t.eq(rest, "unterminated", "its bytes")
    socket.close(server)

    client, server = pair(port)
    skynet.fork(function()
        for i = 1, 5 do socket.write(client, string.rep(tostring(i), 1000)) end
        socket.close(client)
    end)
    local all = socket.readall(server)
    t.eq(#all, 5000, "readall length")
    t.eq(all:sub(1, 1) .. all:sub(1001, 1001) .. all:sub(5000), "125", "readall content")
    t.eq(socket.readall(server), false, "readall again: nothing")
    socket.close(server)

    -- close() from one coroutine while another waits in read: the reader gets false + buffer.
    client, server = pair(port)
    socket.write(client, "abc")
    wait_read(server, 3)
    local reader_result
    skynet.fork(function() reader_result = table.pack(socket.read(server, 10)) end)
    skynet.yield()
    socket.close(server)
    t.ok(reader_result, "the reader finished before close returned")
    t.eq(reader_result[1], false, "reader sees the close")
    t.eq(reader_result[2], "abc", "reader gets the buffered bytes")
    t.eq(socket.read(client), false, "the peer sees the close")
    socket.close(client)

    -- shutdown drops what is queued and wakes the reader.
    client, server = pair(port)
    socket.shutdown(server)
    ok = socket.read(server)
    t.eq(ok, false, "read after shutdown")
    socket.close(server)
    t.eq(socket.read(client), false, "peer sees the shutdown")
    socket.close(client)

    -- A transfer far past the pause threshold arrives whole and in order.
    client, server = pair(port)
    local chunk = {}
    for i = 0, 1023 do chunk[#chunk + 1] = string.char(i % 256) end
    chunk = table.concat(chunk)
    local big = string.rep(chunk, 1024) -- 1 MB
    socket.write(client, big)
    wait_read(server, 128 * 1024 + 1)
    t.wait_until(function() return not info(server).reading end, 500, "reading paused")
    local got = {}
    local total = 0
    while total < #big do
        local part = assert(socket.read(server, math.min(100000, #big - total)), "big read")
        got[#got + 1] = part
        total = total + #part
    end
    t.ok(table.concat(got) == big, "1 MB intact after pause and resume")
    socket.close(client)
    socket.close(server)

    -- Packed messages go out by pointer (ownership moves), and lwrite keeps the stream order.
    client, server = pair(port)
    local msg, sz = skynet.pack("packed", 42, { 1, 2 })
    t.ok(socket.write(client, msg, sz), "write light userdata + size")
    local a1, a2, a3 = skynet.unpack(assert(socket.read(server, sz)))
    t.eq(a1 .. a2 .. a3[2], "packed422", "packed values through the socket")
    t.ok(socket.lwrite(client, "low\n"), "lwrite")
    t.eq(socket.readline(server), "low", "lwrite arrives")
    t.eq(socket.header("\0\1\0"), 256, "3-byte header")

    -- pause: nothing more is read until the next read resumes it.
    socket.pause(server)
    t.wait_until(function() return not info(server).reading end, 500, "paused")
    socket.write(client, "while paused\n")
    t.eq(socket.readline(server), "while paused", "a read resumes a paused socket")
    t.ok(info(server).reading, "reading again")

    -- limit: more than the limit buffered and unread closes the socket.
    socket.limit(server, 100)
    socket.write(client, string.rep("x", 1000))
    t.wait_until(function() return socket.disconnected(server) end, 500, "closed over the limit")
    t.eq(socket.read(client), false, "the peer sees the close")
    socket.close(client)
    socket.close(server)
    t.raises({ "socket.read: socket not open here" }, socket.read, server)

    -- Hand an accepted connection to another service: it becomes the owner and reads it.
    local agent = skynet.newservice "helper_socket_agent"
    client = assert(socket.open("127.0.0.1", port))
    t.wait_until(function() return #accepted > 0 end, 500, "an accepted connection")
    local a = table.remove(accepted, 1)
    skynet.call(agent, "lua", "start", a.id)
    socket.write(client, "to the agent\n")
    t.eq(socket.readline(client), "agent got: to the agent", "the agent answered")
    socket.close(client)
    t.eq(skynet.call(agent, "lua", "closed"), true, "the agent saw the close")

    -- abandon: pauses, returns what was buffered, and leaves the id for someone else.
    client, server = pair(port)
    socket.write(client, "before\n")
    t.eq(socket.readline(server), "before", "read before abandon")
    socket.write(client, "kept")
    wait_read(server, #"before\nkept")
    t.eq(socket.abandon(server), "kept", "abandon returns the buffered bytes")
    t.ok(socket.invalid(server), "abandoned id is no longer ours")
    socket.write(client, " in the kernel\n")
    skynet.call(agent, "lua", "start", server)
    socket.write(client, "after\n")
    t.eq(socket.readline(client), "agent got:  in the kernel", "paused bytes reach the new owner")
    t.eq(socket.readline(client), "agent got: after", "and what follows")
    socket.close(client)

    -- A service that ends closes the sockets it still has, even idle ones...
    local function closed_within(id, cs)
        local eof
        skynet.fork(function() eof = socket.read(id) == false end)
        t.wait_until(function() return eof ~= nil end, cs, "the peer's end closed")
        return eof
    end
    local quitter = skynet.newservice "helper_socket_agent"
    client = assert(socket.open("127.0.0.1", port))
    t.wait_until(function() return #accepted > 0 end, 500, "an accepted connection")
    a = table.remove(accepted, 1)
    skynet.call(quitter, "lua", "start", a.id)
    socket.write(client, "hello\n")
    t.eq(socket.readline(client), "agent got: hello", "the quitter answered")
    skynet.call(quitter, "lua", "quit")
    t.eq(closed_within(client, 300), true, "closed when its service exited")
    socket.close(client)
    -- ...but not one that another service has started since.
    local first = skynet.newservice "helper_socket_agent"
    local second = skynet.newservice "helper_socket_agent"
    client = assert(socket.open("127.0.0.1", port))
    t.wait_until(function() return #accepted > 0 end, 500, "an accepted connection")
    a = table.remove(accepted, 1)
    skynet.call(first, "lua", "start", a.id)
    skynet.call(second, "lua", "start", a.id)
    skynet.call(first, "lua", "quit")
    skynet.sleep(5)
    socket.write(client, "still there\n")
    t.eq(socket.readline(client), "agent got: still there", "the new owner still serves it")
    socket.close(client)
    t.eq(skynet.call(second, "lua", "closed"), true, "and sees the close")

    -- Connect failures come back as nil + the error text with the address.
    local closed_port
    do
        local id, _, p = socket.listen("127.0.0.1", 0)
        socket.close(id)
        closed_port = p
    end
    local id, err = socket.open("127.0.0.1", closed_port)
    t.eq(id, nil, "connect to a closed port")
    t.ok(err:find("127.0.0.1:" .. closed_port, 1, true), "error names the address: " .. err)
    t.ok(err:find("refused", 1, true), "error gives the reason: " .. err)
    id, err = socket.open("127.0.0.1:" .. closed_port)
    t.eq(id, nil, "host:port form")
    t.ok(err:find("refused", 1, true), "host:port form reason: " .. err)
    -- Listening on a port in use raises with the address and the reason.
    t.raises({ "listen 127.0.0.1:" .. port, "in use" }, socket.listen, "127.0.0.1", port)

    -- Writes to a closed id fail without raising.
    t.eq(socket.write(client, "late"), false, "write to a closed id")

    -- netstat lists the listener with its port and owner.
    local found
    for _, s in ipairs(socket.netstat()) do
        if s.id == listener then found = s end
    end
    t.ok(found, "listener in netstat")
    t.eq(found.type, "listener", "netstat type")
    t.eq(found.port, port, "netstat port")
    t.eq(found.owner, skynet.self(), "netstat owner")
    socket.close(listener)
end)
