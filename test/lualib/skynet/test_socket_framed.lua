-- skynet.socket framed mode and write-queue warnings over real TCP: the "resp" framer cuts the
-- stream on the socket thread and frames reach a per-socket callback; a malformed stream fails
-- the socket with the framer's text; an unread peer makes the write queue grow past 1 MB; a
-- connect that is never answered ends at open_framed's connect_ms.
local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "tlib"

t.run(function()
    local listener, port, next_conn = t.accepting()

    -- open_framed: framed from the first byte.
    local frames, batches, bytes = 0, 0, 0
    local client = assert(socket.open_framed("127.0.0.1", port, "resp", function(ptr, size, count)
        t.eq(type(ptr), "userdata", "frames pointer")
        frames, batches, bytes = frames + count, batches + 1, bytes + size
    end))
    local server = next_conn()
    socket.start(server)
    socket.write(server, "+OK\r\n:42\r\n$3\r\nfo")
    t.wait_until(function() return frames == 2 end, 500, "two whole replies")
    socket.write(server, "o\r\n*2\r\n:1\r\n")
    t.wait_until(function() return frames == 3 end, 500, "the bulk completed")
    socket.write(server, ":2\r\n")
    t.wait_until(function() return frames == 4 end, 500, "the array completed")
    t.ok(bytes > 0 and batches <= 4, "payload bytes delivered")

    -- A malformed stream: the socket fails, onclose gets the framer's text, reads see the end.
    local closed_err
    socket.onclose(client, function(_, err) closed_err = err or "no text" end)
    socket.write(server, "?garbage\r\n")
    t.wait_until(function() return closed_err end, 500, "the framing error")
    t.ok(closed_err:find("frame", 1, true) or closed_err:find("RESP", 1, true)
        or closed_err:find("protocol", 1, true), "framing error text: " .. closed_err)
    t.eq(socket.read(client), false, "read after the framing error")
    socket.close(client)
    socket.close(server)

    -- set_framer on an open socket; bytes read before it stay in the buffer.
    client = assert(socket.open("127.0.0.1", port))
    server = next_conn()
    socket.start(server)
    socket.write(server, "plain\n")
    t.eq(socket.readline(client), "plain", "unframed before set_framer")
    local late = 0
    socket.set_framer(client, "resp", function(_, _, count) late = late + count end,
        { max_bulk = 1024 })
    socket.write(server, ":7\r\n")
    t.wait_until(function() return late == 1 end, 500, "a frame after set_framer")
    -- The limit given as an option holds.
    local limit_err
    socket.onclose(client, function(_, err) limit_err = err end)
    socket.write(server, "$2048\r\n")
    t.wait_until(function() return limit_err end, 500, "max_bulk enforced")
    socket.close(client)
    socket.close(server)

    -- Unknown framers and bad options are refused.
    client = assert(socket.open("127.0.0.1", port))
    server = next_conn()
    t.raises({ "no framer named 'nope'" }, socket.set_framer, client, "nope", function() end)
    t.raises({ "unknown option colour" }, socket.set_framer, client, "resp", function() end,
        { colour = 1 })
    t.raises({ "max_bulk must be" }, socket.set_framer, client, "resp", function() end,
        { max_bulk = 0 })
    t.raises({ "integers" }, socket.set_framer, client, "resp", function() end, { max_bulk = "x" })
    local id, err = socket.open_framed("127.0.0.1", port, "nope", function() end)
    t.eq(id, nil, "open_framed with an unknown framer")
    t.ok(err:find("no framer named", 1, true), "open_framed error: " .. tostring(err))
    socket.close_fd(next_conn())

    -- Warnings: the peer does not read, so our queue passes 1 MB; then it drains to 0.
    local warnings = {}
    t.eq(socket.warning(client, function(wid, kb)
        t.eq(wid, client, "warning id")
        warnings[#warnings + 1] = kb
    end), nil, "no previous warning callback")
    local mb = string.rep("w", 1 << 20)
    local sent = 0
    while #warnings == 0 do
        t.ok(sent < 64, "a warning before 64 MB were queued")
        socket.write(client, mb)
        sent = sent + 1
        skynet.yield()
    end
    t.ok(warnings[1] >= 1024, "first warning at >= 1024 KB, got " .. warnings[1])
    socket.start(server)
    local total = 0
    while total < sent << 20 do
        total = total + #assert(socket.read(server), "draining read")
    end
    t.eq(total, sent << 20, "every byte arrived")
    t.wait_until(function() return warnings[#warnings] == 0 end, 500, "the drained warning")
    socket.close(client)
    socket.close(server)
    socket.close(listener)

    -- connect_ms: a listener that never accepts, with its backlog full, leaves the next connect
    -- unanswered (the kernel drops its SYNs); open_framed gives up when connect_ms has passed.
    local full, host, fport = socket.listen("127.0.0.1", 0, 1)
    local filling = {}
    for i = 1, 2 do filling[i] = assert(socket.open(host, fport), "the backlog takes two") end
    local t0 = skynet.now()
    local none, why = socket.open_framed(host, fport, "resp", function() end, nil, 300)
    local waited = (skynet.now() - t0) * 10
    t.eq(none, nil, "no connection to a full backlog")
    t.ok(tostring(why):find("no connection within 300 ms", 1, true), "why: " .. tostring(why))
    t.ok(waited >= 290 and waited < 2000, "gave up after connect_ms, not the kernel's timeout: "
        .. waited .. " ms")
    for i = 1, 2 do socket.close(filling[i]) end
    socket.close(full)
end)
