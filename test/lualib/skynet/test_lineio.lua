-- Bounded line reading over real TCP on 127.0.0.1: socket.readline's maximum, skynet.lineio's
-- reader (over-long lines, telnet commands, CR / CR LF / CR NUL line ends split across packets,
-- a last line without its end at close, printable output), and back-pressure on the write side
-- (socket.drain, lineio's hold dropping a client that never reads).
local skynet = require "skynet"
local socket = require "skynet.socket"
local lineio = require "skynet.lineio"
local t = require "tlib"

local accepted = {}

local function pair(port)
    local client = assert(socket.open("127.0.0.1", port))
    t.wait_until(function() return #accepted > 0 end, 500, "an accepted connection")
    local server = table.remove(accepted, 1)
    socket.start(server)
    return client, server
end

-- The socket thread's view of one socket.
local function info(id)
    for _, s in ipairs(socket.netstat()) do
        if s.id == id then return s end
    end
end

t.run(function()
    local listener, _, port = socket.listen("127.0.0.1", 0)
    socket.start(listener, function(id) accepted[#accepted + 1] = id end)

    -- readline with a maximum: a line of exactly max bytes passes; a longer one is refused once,
    -- even while it is still arriving, and dropped up to its separator.
    local client, server = pair(port)
    socket.write(client, "12345\n")
    t.eq(socket.readline(server, "\n", 5), "12345", "a line of max bytes")
    socket.write(client, "123456\n")
    local line, err = socket.readline(server, "\n", 5)
    t.eq(line, nil, "a whole line over max")
    t.eq(err, "line too long (over 5 bytes)", "its error")
    socket.write(client, string.rep("x", 4000))
    line, err = socket.readline(server, "\n", 100)
    t.eq(line, nil, "an endless line is refused before its end")
    t.eq(err, "line too long (over 100 bytes)", "with the maximum named")
    t.ok(info(server).read < 1000000, "refused early")
    local rest_done = false
    skynet.fork(function()
        socket.write(client, string.rep("y", 100000))
        socket.write(client, "\r")
        skynet.sleep(1)
        socket.write(client, "\nnext\r\n")
        rest_done = true
    end)
    t.eq(socket.readline(server, "\r\n", 100), "next", "the rest of the long line is skipped")
    t.ok(rest_done, "after the writer finished")
    -- Without a maximum, readline is skynet's: any length.
    socket.write(client, string.rep("z", 70000) .. "\n")
    t.eq(#socket.readline(server), 70000, "unbounded readline")
    -- At close, the unfinished tail of an over-long line is no line.
    socket.write(client, string.rep("w", 300))
    t.eq(socket.readline(server, "\n", 10), nil, "too long before the close")
    socket.close(client)
    local ok, rest = socket.readline(server, "\n", 10)
    t.eq(ok, false, "closed")
    t.eq(rest, "", "no tail")
    socket.close(server)

    -- lineio: line ends, telnet commands, over-long lines, the last line at close.
    client, server = pair(port)
    local r = lineio.new(server, { max = 8 })
    socket.write(client, "cr\rlf\ncrlf\r")
    t.eq(r:read(), "cr", "CR alone ends a line")
    t.eq(r:read(), "lf", "LF")
    t.eq(r:read(), "crlf", "CR ...")
    socket.write(client, "\nnul\r\0after\n\n")
    t.eq(r:read(), "nul", "... LF in the next packet belongs to the CR")
    t.eq(r:read(), "after", "CR NUL is one line end")
    t.eq(r:read(), "", "an empty line")
    -- IAC WILL ECHO, IAC DO SGA, IAC SB TTYPE SEND IAC SE, IAC NOP, IAC IAC; one split in two.
    socket.write(client, "\255\251\1a\255\253\3b\255\250\24\1\255")
    skynet.sleep(1)
    socket.write(client, "\240c\255\241d\255\255e\255")
    skynet.sleep(1)
    socket.write(client, "\250\24\255\255\255\240f\n")
    t.eq(r:read(), "abcd\255ef", "telnet commands removed, IAC IAC kept as 255")
    socket.write(client, "123456789\nshort\n")
    local l2, e2 = r:read()
    t.eq(l2, false, "over max")
    t.eq(e2, "line too long (over 8 bytes)", "reader error")
    t.eq(r:read(), "short", "next line")
    socket.write(client, string.rep("q", 5))
    skynet.sleep(1)
    socket.write(client, string.rep("q", 5))
    t.eq(r:read(), false, "too long across packets")
    socket.write(client, "qqq\nok\nlast")
    t.eq(r:read(), "ok", "the long line's tail skipped")
    socket.close(client)
    t.eq(r:read(), "last", "a last line without its end, at close")
    t.eq(r:read(), nil, "then the end")
    socket.close(server)

    -- printable
    t.eq(lineio.printable("a\27[2Jb\7caf\195\169\127\255"), "a?[2Jb?caf????", "printable")
    t.eq(lineio.printable("a\tb\nc\r", "\n\t"), "a\tb\nc?", "printable keeps the given bytes")
    -- Every byte, alone and behind printable text (the all-printable case returns the text).
    for b = 0, 255 do
        local ch = string.char(b)
        local want = (b >= 32 and b <= 126) and ch or "?"
        t.eq(lineio.printable(ch), want, "printable byte " .. b)
        t.eq(lineio.printable("you have 97 gold" .. ch), "you have 97 gold" .. want,
            "printable byte " .. b .. " at the end")
    end
    t.eq(lineio.printable(""), "", "printable empty")
    t.eq(lineio.strip_telnet("x\255\253\1y"), "xy", "strip_telnet")

    -- drain: waits from the write-queue warning to the drained one; reading resumes after.
    -- The client is paused until it reads: the kernel's buffers then hold a few MB at most and
    -- the rest of the 32 MB stays queued past the mark, however fast the socket thread runs.
    client, server = pair(port)
    socket.pause(client)
    local warned = {}
    socket.warning(server, function(_, kb) warned[#warned + 1] = kb end)
    local drained
    local big = 32 * 1024 * 1024
    socket.write(server, string.rep("d", big))
    t.wait_until(function() return #warned > 0 end, 500, "a write-queue warning")
    t.ok(warned[1] >= 1024, "warned at the 1 MB mark")
    skynet.fork(function() drained = socket.drain(server) end)
    skynet.yield()
    t.eq(drained, nil, "drain waits while the queue is past the mark")
    t.eq(#assert(socket.read(client, big)), big, "the client reads it all")
    t.wait_until(function() return drained ~= nil end, 500, "drain returning")
    t.eq(drained, true, "drain returns true once drained")
    t.eq(warned[#warned], 0, "the drained warning")
    socket.write(client, "again\n")
    t.eq(socket.readline(server), "again", "reading resumed after the drain")
    socket.close(client)
    socket.close(server)

    -- A socket's own mark: 64 KB instead of the node's 1 MB.
    client, server = pair(port)
    socket.pause(client)
    local marks = {}
    socket.warning(server, function(_, kb) marks[#marks + 1] = kb end)
    socket.warning_mark(server, 64)
    local piece = string.rep("m", 16 * 1024)
    for _ = 1, 512 do socket.write(server, piece) end -- 8 MB in 16 KB writes
    t.wait_until(function() return #marks > 0 end, 500, "a warning")
    t.ok(marks[1] >= 64 and marks[1] < 64 + 16, "warned at the socket's mark: " .. marks[1] .. " KB")
    t.raises({ "the warning mark is 1 to 4194304 KB" }, socket.warning_mark, server, 0)
    socket.shutdown(server)
    socket.close(server)
    socket.close(client)

    -- hold: a reader whose client sends lines and never reads the answers stops being served
    -- soon after the 1 MB mark (reading paused), and is dropped once the queue passes limit_kb.
    client, server = pair(port)
    socket.pause(client) -- this client never reads
    r = lineio.new(server, { max = 64, hold = true, limit_kb = 8192, peer = "flooder" })
    socket.write(client, string.rep("cmd\n", 1000))
    local served, ended = 0, false
    skynet.fork(function()
        while r:read() do
            served = served + 1
            socket.write(server, string.rep("o", 128 * 1024)) -- a big answer per line
        end
        ended = true
    end)
    t.wait_until(function() return info(server).reading == false end, 1000, "the reader holding")
    local held_at = served
    t.ok(held_at >= 1 and held_at < 200, "served " .. held_at .. " of 1000 lines, then held")
    t.eq(ended, false, "held, not dropped, below the limit")
    -- More output from elsewhere (a notice) takes the queue past the limit: dropped.
    socket.write(server, string.rep("n", 16 * 1024 * 1024))
    t.wait_until(function() return ended end, 1000, "the reader ending")
    -- At most a batch or two more: the reader sees the new warning at its next yield.
    t.ok(served < held_at + 64 and served < 200, "served " .. served .. " in all")
    t.ok(socket.disconnected(server), "dropped")
    socket.close(client)
    socket.close(server)
end)
