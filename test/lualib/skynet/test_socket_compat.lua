-- skynet.socket functions as skynet code calls them (real TCP and UDP on loopback): resolve,
-- lock/unlock, "host:port" forms, what reads return at the end of a stream, header, warning,
-- close_fd, udp_listen, udp_dial, udp_connect by name.
local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "tlib"

-- A listener whose connections are read whole by `sink` (id -> everything received).
local function sink_server()
    local got = {}
    local id, _, port = socket.listen("127.0.0.1:0")
    socket.start(id, function(newid)
        socket.start(newid)
        got[newid] = false
        got[newid] = socket.readall(newid) or ""
        socket.close(newid)
    end)
    return id, port, got
end

local function only(tbl)
    local k, v = next(tbl)
    assert(next(tbl, k) == nil, "more than one connection")
    return v
end

t.run(function()
    -- resolve: every address of a name, as text; a bad name raises naming it.
    local ips = socket.resolve("localhost")
    t.eq(type(ips), "table", "resolve returns a table")
    local has_loopback = false
    for _, ip in ipairs(ips) do
        if ip == "127.0.0.1" or ip == "::1" then has_loopback = true end
    end
    t.ok(has_loopback, "localhost resolves to a loopback address: " .. table.concat(ips, " "))
    t.eq(socket.resolve("127.0.0.1")[1], "127.0.0.1", "a numeric host resolves to itself")
    t.raises({ "resolve no-such-host.invalid" }, socket.resolve, "no-such-host.invalid")

    -- listen and open take "host:port" as one string.
    local lid, port, got = sink_server()
    local id = assert(socket.open("127.0.0.1:" .. port))

    -- lock/unlock: a writer that yields between its parts keeps the stream to itself; the
    -- others get the lock in the order they asked for it.
    local done = 0
    for i = 1, 3 do
        skynet.fork(function()
            socket.lock(id)
            for part = 1, 3 do
                socket.write(id, string.format("%d.%d;", i, part))
                skynet.yield() -- another writer would run here without the lock
            end
            socket.unlock(id)
            done = done + 1
        end)
    end
    t.wait_until(function() return done == 3 end, 500, "three locked writers")
    t.raises({ "socket.unlock", "not locked" }, socket.unlock, id)
    t.raises({ "socket.lock", "not open here" }, socket.lock, 999999)
    socket.close(id)
    t.wait_until(function() return only(got) end, 500, "the sink read everything")
    t.eq(only(got), "1.1;1.2;1.3;2.1;2.2;2.3;3.1;3.2;3.3;", "locked writes are not interleaved")
    socket.close(lid)

    -- The end of a stream: read(n) and readline give false and what was left; readall gives
    -- what was left, then false; block gives false; disconnected turns true; invalid stays
    -- false until close.
    local sid, _, sport = socket.listen("127.0.0.1", 0)
    socket.start(sid, function(newid)
        socket.start(newid)
        socket.write(newid, "line\npartial")
        socket.close(newid)
    end)
    local c = assert(socket.open("127.0.0.1", sport))
    t.eq(socket.readline(c), "line", "a whole line")
    t.ok(t.same({ socket.read(c, 100) }, { false, "partial" }), "read(n) at the end: false, rest")
    t.ok(t.same({ socket.readline(c) }, { false, "" }), 'readline at the end: false, ""')
    t.eq(socket.readall(c), false, "readall after the end")
    t.eq(socket.block(c), false, "block after the end")
    t.eq(socket.disconnected(c), true, "disconnected after eof")
    t.eq(socket.invalid(c), false, "still ours until close")
    socket.close(c)
    t.eq(socket.invalid(c), true, "invalid after close")
    t.eq(socket.disconnected(c), nil, "disconnected of an unknown id")
    socket.close(sid)

    -- header: 1 to 4 big-endian bytes.
    t.eq(socket.header("\1"), 1, "1-byte header")
    t.eq(socket.header("\1\2"), 258, "2-byte header")
    t.eq(socket.header("\0\1\0\0"), 65536, "4-byte header")
    t.raises({ "1 to 4 bytes" }, socket.header, "\0\0\0\0\0")

    -- warning: replaces the callback and returns the previous one.
    local wl, _, wport = socket.listen("127.0.0.1", 0)
    socket.start(wl, function(newid) socket.start(newid) end)
    local w = assert(socket.open("127.0.0.1", wport))
    local first = function() end
    t.eq(socket.warning(w, first), nil, "no callback before")
    t.eq(socket.warning(w, function() end), first, "the previous callback")
    t.raises({ "socket.warning", "not open here" }, socket.warning, 999999, first)
    socket.close(w)

    -- close_fd: an accepted id refused before it was started is closed (the client sees eof).
    local refused = false
    local rl, _, rport = socket.listen("127.0.0.1", 0)
    socket.start(rl, function(newid)
        t.raises({ "use socket.close" }, socket.close_fd, rl)
        socket.close_fd(newid)
        refused = true
    end)
    local r = assert(socket.open("127.0.0.1", rport))
    t.wait_until(function() return refused end, 500, "the connection was refused")
    t.eq(socket.read(r), false, "eof on a refused connection")
    socket.close(r)
    socket.close(rl)

    -- udp_listen(host, port, callback) and udp_dial(host, port, callback): the dialled socket
    -- writes to its peer and hears the answers.
    local heard = {}
    local server
    server = socket.udp_listen("127.0.0.1", 0, function(data, from)
        socket.sendto(server, from, "echo:" .. data)
    end)
    local server_port = socket.netstat(server).port -- skynet's udp_listen returns only the id
    local dialled = socket.udp_dial("127.0.0.1", server_port, function(data)
        heard[#heard + 1] = data
    end)
    t.ok(socket.write(dialled, "one"), "write on a dialled socket")
    t.wait_until(function() return heard[1] end, 500, "the echo")
    t.eq(heard[1], "echo:one", "udp_dial peer answers")

    -- udp_connect with a host name: resolved like skynet's.
    local named = {}
    local u = socket.udp(function(data) named[#named + 1] = data end, "127.0.0.1")
    socket.udp_connect(u, "localhost", server_port)
    t.ok(socket.write(u, "two"), "write after udp_connect by name")
    t.wait_until(function() return named[1] end, 500, "the echo by name")
    t.eq(named[1], "echo:two", "udp_connect by name")
    t.raises({ "socket.udp_dial", "no-such-host.invalid" }, socket.udp_dial,
        "no-such-host.invalid", 9)
    socket.close(u)
    socket.close(dialled)
    socket.close(server)
end)
