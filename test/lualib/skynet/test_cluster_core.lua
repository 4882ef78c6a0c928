-- skynet.cluster.core over real TCP: frames made by one link's codec go out with socket writes
-- (the driver takes the buffers), the "cluster" framer cuts them on the socket thread, and the
-- other link's codec turns them back into the messages sent, a large one in parts beside small
-- ones. A bad frame length fails the socket with the framer's text.
local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.cluster.core"
local t = require "tlib"

t.run(function()
    local listener, port, next_conn = t.accepting()

    local rx = core.link {}
    local got = {}
    local client = assert(socket.open_framed("127.0.0.1", port, "cluster", function(ptr, size)
        local n, items = rx:feed(ptr, size)
        for i = 1, n * 6, 6 do
            local kind, session, flags, addr, data, sz = table.unpack(items, i, i + 5)
            got[#got + 1] = { kind = kind, session = session, flags = flags, addr = addr,
                args = kind >= 16 and table.pack(skynet.unpack(data, sz)) or data }
            if kind >= 16 then skynet.trash(data, sz) end
        end
    end))
    local server = next_conn()
    socket.start(server)

    local tx = core.link { part = 65536 }
    local function write_all(lowpriority, n, ...)
        for i = 1, n do
            local buf, sz = select(2 * i - 1, ...)
            if lowpriority then socket.lwrite(server, buf, sz) else socket.write(server, buf, sz) end
        end
        return n
    end
    local big = string.rep("0123456789abcdef", 1 << 16) -- 1 MB
    t.eq(write_all(true, tx:request(1, false, skynet.pack(".big", big))), 17, "1 MB in 17 parts")
    t.eq(write_all(false, tx:request(2, true, skynet.pack(0x100005, "small", 2))), 1, "one frame")
    write_all(false, tx:response(9, false, "callee error"))
    socket.write(server, string.pack(">I4B", 3, 1) .. "hi") -- a control frame
    -- borrow: the codec only reads msg; the caller still owns it (and frees it afterwards).
    local bmsg, bsz = skynet.pack(".borrowed", "kept")
    t.eq(write_all(false, tx:request(3, false, bmsg, bsz, true)), 1, "a borrowed request")
    local rmsg, rsz = skynet.pack("answer")
    t.eq(write_all(false, tx:response(4, true, rmsg, rsz, true)), 1, "a borrowed response")
    t.eq(select(2, skynet.unpack(bmsg, bsz)), "kept", "the borrowed request is intact")
    t.eq(skynet.unpack(rmsg, rsz), "answer", "the borrowed response is intact")
    skynet.trash(bmsg, bsz)
    skynet.trash(rmsg, rsz)
    t.wait_until(function() return #got == 6 end, 500, "six items")

    local by = {}
    for _, it in ipairs(got) do by[it.session .. ":" .. it.kind] = it end
    local b = by["1:16"]
    t.eq(b.addr, ".big", "big request's address")
    t.eq(b.flags, 0, "a call, not a push")
    t.eq(b.args.n, 1, "one argument")
    t.ok(b.args[1] == big, "1 MB reassembled byte for byte")
    local s = by["2:16"]
    t.eq(s.addr, 0x100005, "handle address")
    t.eq(s.flags, 1, "push flag")
    t.eq(s.args[1], "small", "small arg 1")
    t.eq(s.args[2], 2, "small arg 2")
    t.eq(by["9:17"].flags, 0, "error response")
    t.eq(by["0:1"].args, "hi", "control body")
    t.eq(by["3:16"].addr, ".borrowed", "borrowed request's address")
    t.eq(by["3:16"].args[1], "kept", "borrowed request's argument")
    t.eq(by["4:17"].args[1], "answer", "borrowed response's value")
    t.eq(select(1, rx:pending()), 0, "nothing left incomplete")

    -- A length above max_frame fails the socket with the framer's text.
    local closed
    socket.onclose(client, function(_, err) closed = err or "no text" end)
    socket.write(server, string.pack(">I4", 262145))
    t.wait_until(function() return closed end, 500, "the framing error")
    t.eq(closed, "cluster frame of 262145 bytes: more than the maximum 262144", "error text")
    socket.close(client)
    socket.close(server)

    -- Assembly (framer option assemble, codec option assembled): the parts of 1 MB are put
    -- together on the socket thread and reach the codec as one frame; gathering (request and
    -- response with gather) keeps small frames in the link until take() hands them over in one
    -- buffer, for one socket write.
    client = assert(socket.open("127.0.0.1", port))
    server = next_conn()
    socket.start(server)
    local arx = core.link { assembled = true }
    local frames, items = 0, {}
    socket.set_framer(client, "cluster", function(ptr, size, count)
        frames = frames + count
        local n, it = arx:feed(ptr, size)
        for i = 1, n * 6, 6 do
            items[#items + 1] = { session = it[i + 1], args = table.pack(skynet.unpack(it[i + 4],
                it[i + 5])) }
            skynet.trash(it[i + 4], it[i + 5])
        end
    end, { assemble = 1 << 24 })
    local gtx = core.link {}
    local m1, s1 = skynet.pack(".a", "one")
    local n1, bytes1 = gtx:request(5, false, m1, s1, false, true)
    local r2, s2 = skynet.pack("two")
    local n2, bytes2 = gtx:response(6, true, r2, s2, false, true)
    t.ok(n1 == 0 and n2 == 0, "small frames gathered")
    t.ok(bytes2 > bytes1 and bytes1 > 0, "gathered bytes grow")
    t.eq(write_all(true, gtx:request(7, false, skynet.pack(".big", big))), 17,
        "1 MB still in 17 parts with gather off")
    local gbuf, gsz = gtx:take()
    t.eq(gsz, bytes2, "take hands over what was gathered")
    t.eq(gtx:take(), nil, "nothing left after take")
    socket.write(server, gbuf, gsz)
    t.wait_until(function() return #items == 3 end, 500, "three messages")
    t.eq(frames, 3, "three frames: the 17 parts arrived as one")
    local seen = {}
    for _, it in ipairs(items) do seen[it.session] = it.args end
    t.eq(seen[5][1], "one", "gathered request")
    t.eq(seen[6][1], "two", "gathered response")
    t.ok(seen[7][1] == big, "1 MB assembled byte for byte")
    t.eq(select(1, arx:pending()), 0, "nothing reassembled in the codec")
    socket.close(client)
    socket.close(server)

    -- Options: max_frame is honoured, anything else is refused.
    client = assert(socket.open("127.0.0.1", port))
    server = next_conn()
    socket.start(server)
    closed = nil
    socket.set_framer(client, "cluster", function() end, { max_frame = 100 })
    socket.onclose(client, function(_, err) closed = err or "no text" end)
    socket.write(server, string.pack(">I4", 0))
    t.wait_until(function() return closed end, 500, "the empty frame")
    t.eq(closed, "empty cluster frame", "empty frame text")
    socket.close(client)
    socket.close(server)
    client = assert(socket.open("127.0.0.1", port))
    t.raises({ "cluster framer: unknown option max_bulk" }, socket.set_framer, client, "cluster",
        function() end, { max_bulk = 1 })
    t.raises({ "max_frame must be in" }, socket.set_framer, client, "cluster", function() end,
        { max_frame = 0 })
    t.raises({ "option assemble must be a positive integer" }, socket.set_framer, client,
        "cluster", function() end, { assemble = 0 })
    socket.close(client)
    socket.close_fd(next_conn())
    socket.close(listener)
end)
