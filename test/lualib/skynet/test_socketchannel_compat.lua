-- skynet.socketchannel as skynet code uses it (real TCP on 127.0.0.1): multi-part answers
-- (a response's third value), errors equal to socketchannel.error, auth failing over to the
-- next backup, padded requests kept in order, response() for unasked answers, changehost and
-- changebackup.
local skynet = require "skynet"
local socket = require "skynet.socket"
local socketchannel = require "skynet.socketchannel"
local t = require "tlib"

local line_server = require "line_server"
local line_response = line_server.line_response

-- A line server named `name`: line_server's ECHO, AUTH and DROP, and
--   WHO              -> name
--   MULTI n x        -> n lines "+x1" ... "+x(n-1)", ".xn" (order mode multi-part)
--   SMULTI s n x     -> n lines "s +x1" ... "s .xn" (session mode multi-part)
--   PUSH x           -> nothing now; "x" a moment later, unasked
--   BLOB n           -> reads n more bytes, then "blob n"
-- With gate, each connection is started (read) only after skynet.wakeup(gate.co).
local function server(name, password, gate)
    local commands = {}
    function commands.WHO(id) socket.write(id, name .. "\n") end
    local function multi(id, s, n, x)
        n = tonumber(n)
        for i = 1, n do
            socket.write(id, (s and s .. " " or "") .. (i < n and "+" or ".") .. x .. i .. "\n")
        end
    end
    function commands.MULTI(id, rest)
        local n, x = rest:match("^(%d+) (.*)$")
        multi(id, nil, n, x)
    end
    function commands.SMULTI(id, rest) multi(id, rest:match("^(%d+) (%d+) (.*)$")) end
    function commands.PUSH(id, rest)
        skynet.fork(function()
            skynet.sleep(1)
            socket.write(id, rest .. "\n")
        end)
    end
    function commands.BLOB(id, rest)
        socket.read(id, tonumber(rest))
        socket.write(id, "blob " .. rest .. "\n")
    end
    return line_server.listen(commands, { password = password, gate = gate })
end

-- "+x" is a part with more to come, ".x" the last part.
local function multi_response(sock)
    local line = sock:readline()
    return true, line:sub(2), line:sub(1, 1) == "+"
end

t.run(function()
    local port_a = server("A")
    local port_b = server("B")

    -- Order mode: a response that returns more = true is called again; the caller gets the
    -- parts as a table. A single part (more false) stays a plain value.
    local ch = socketchannel.channel { host = "127.0.0.1", port = port_a }
    t.ok(t.same(ch:request("MULTI 3 x\n", multi_response), { "x1", "x2", "x3" }), "three parts as one table")
    t.eq(ch:request("MULTI 1 y\n", multi_response), "y1", "a one-part answer is the value")
    t.eq(ch:request("ECHO after\n", line_response), "after", "the stream stays in step")

    -- Padding: the request's parts follow it; concurrent padded and plain requests each get
    -- their own answer in order mode.
    local answers, n = {}, 0
    for i = 1, 20 do
        skynet.fork(function()
            if i % 2 == 0 then
                answers[i] = ch:request("ECHO", line_response, { " p", tostring(i), "\n" })
            else
                answers[i] = ch:request("ECHO p" .. i .. "\n", line_response)
            end
            n = n + 1
        end)
    end
    t.wait_until(function() return n == 20 end, 500, "20 mixed requests")
    for i = 1, 20 do t.eq(answers[i], "p" .. i, "answer " .. i) end

    -- A padded request queued behind a large write in order mode is not overtaken by a later
    -- caller's plain request (which would then read the padded request's answer).
    local gate = {}
    -- overload(true) when the write queue passes the mark (socket_warning_kb), overload(false)
    -- once it drains; nodelay sets TCP_NODELAY on every connection.
    local overload = {}
    local gch = socketchannel.channel {
        host = "127.0.0.1",
        port = server("G", nil, gate),
        nodelay = true,
        overload = function(on) overload[#overload + 1] = on end,
    }
    gch:connect(true)
    t.eq(socket.netstat(gch.__conn.fd).nodelay, true, "nodelay on the connection")
    t.wait_until(function() return gate.co end, 500, "the gated server holds the connection")
    local big = 8 * 1024 * 1024 -- more than the kernel takes unread: the rest waits in the queue
    local issued, r = 0, {}
    skynet.fork(function()
        issued = issued + 1
        r.blob = gch:request({ "BLOB " .. big .. "\n", string.rep("b", big) }, line_response)
    end)
    skynet.fork(function()
        issued = issued + 1
        r.padded = gch:request("ECHO", line_response, { " padded", "\n" })
    end)
    skynet.fork(function()
        issued = issued + 1
        r.plain = gch:request("ECHO plain\n", line_response)
    end)
    skynet.fork(function()
        issued = issued + 1
        -- The queue passes two more doublings of the mark: overload is still notified once.
        r.blob2 = gch:request({ "BLOB " .. big .. "\n", string.rep("c", big) }, line_response)
    end)
    t.wait_until(function() return issued == 4 end, 500, "four requests written")
    t.ok(socket.netstat(gch.__conn.fd).wbuffer > 0, "the large request is still queued")
    t.wait_until(function() return overload[1] end, 500, "overload(true)")
    skynet.wakeup(gate.co)
    t.wait_until(function() return r.blob2 end, 1000, "the answers")
    t.eq(r.blob, "blob " .. big, "the large request's answer")
    t.eq(r.padded, "padded", "the padded request's answer")
    t.eq(r.plain, "plain", "the plain request's answer")
    t.eq(r.blob2, "blob " .. big, "the second large request's answer")
    t.wait_until(function() return #overload >= 2 end, 500, "overload(false) once drained")
    t.ok(t.same(overload, { true, false }), "overload on, then off, once each: " .. table.concat(
        (function() local o = {} for i, v in ipairs(overload) do o[i] = tostring(v) end return o end)(), ","))
    gch:close()

    -- response(): an answer nobody asked for (the server pushes it after a request that
    -- expects none).
    t.eq(ch:request("PUSH pushed\n"), nil, "a request without a response")
    t.eq(ch:response(line_response), "pushed", "response() reads the pushed line")

    -- A lost connection raises an error equal to socketchannel.error that still names the
    -- server.
    local ok, err = pcall(ch.request, ch, "DROP\n", line_response)
    t.eq(ok, false, "the request fails")
    t.ok(err == socketchannel.error, "err == socketchannel.error")
    t.ok(socketchannel.iserror(err), "iserror")
    t.ok(tostring(err):find("socket channel 127.0.0.1:" .. port_a, 1, true), tostring(err))
    t.ok(("x: " .. err):find("connection closed", 1, true), "concatenation gives the text")
    -- An error answer is not a channel error.
    local sok, serr = pcall(ch.request, ch, "ECHO ERR nope\n", line_response)
    t.eq(sok, false, "an error answer raises")
    t.eq(serr, "nope", "its text unchanged")
    t.ok(serr ~= socketchannel.error, "an answer is not a channel error")

    -- changehost: the next request goes to the new server.
    t.eq(ch:request("WHO\n", line_response), "A", "before changehost")
    ch:changehost("127.0.0.1", port_b)
    t.eq(ch:request("WHO\n", line_response), "B", "after changehost")
    ch:close()

    -- Session mode multi-part: answers (session, ok, data, more) are collected per session.
    local sch = socketchannel.channel {
        host = "127.0.0.1",
        port = port_a,
        response = function(sock)
            local line = sock:readline()
            local s, mark, x = line:match("^(%d+) ([+.])(.*)$")
            return s and tonumber(s), true, x, mark == "+" -- no session for other lines
        end,
    }
    local got, m = {}, 0
    for s = 1, 4 do
        skynet.fork(function()
            got[s] = sch:request(string.format("SMULTI %d %d s%d-\n", s, s, s), s)
            m = m + 1
        end)
    end
    t.wait_until(function() return m == 4 end, 500, "4 session answers")
    t.eq(got[1], "s1-1", "a one-part session answer")
    t.ok(t.same(got[3], { "s3-1", "s3-2", "s3-3" }), "session 3 in three parts")
    t.ok(t.same(got[4], { "s4-1", "s4-2", "s4-3", "s4-4" }), "session 4 in four parts")
    -- A response that returns no session ends the connection: the waiting request fails (it
    -- would otherwise wait forever), and the next one reconnects.
    err = t.raises({ "response gave no session" }, sch.request, sch, "ECHO no session\n", 7)
    t.ok(err ~= nil, "the request without an answer failed")
    t.eq(sch:request("SMULTI 8 1 again-\n", 8), "again-1", "reconnected after the bad answer")
    sch:close()

    -- Auth that fails on the host moves on to the next backup.
    local port_c = server("C", "c-secret")
    local port_d = server("D", "d-secret")
    local tried = {}
    local ach = socketchannel.channel {
        host = "127.0.0.1",
        port = port_c,
        backup = { { host = "127.0.0.1", port = port_d } },
        auth = function(c)
            tried[#tried + 1] = c.__port
            c:request("AUTH d-secret\n", line_response)
        end,
    }
    t.eq(ach:request("WHO\n", line_response), "D", "auth failed over to the backup")
    t.ok(t.same(tried, { port_c, port_d }), "host, then the backup")
    ach:close()
    -- When every target's auth fails, the error names the auth failures.
    local bad = socketchannel.channel {
        host = "127.0.0.1",
        port = port_c,
        backup = { "127.0.0.1:" .. port_d },
        auth = function(c) c:request("AUTH wrong\n", line_response) end,
    }
    err = t.raises({ "auth failed: bad password", tostring(port_d) }, bad.connect, bad, true)
    bad:close()

    -- changebackup: the new list is what the next connection tries.
    local dead_id, _, dead = socket.listen("127.0.0.1", 0)
    socket.close(dead_id)
    local bch = socketchannel.channel { host = "127.0.0.1", port = dead }
    t.raises({ "connect failed" }, bch.connect, bch, true)
    bch:changebackup({ { host = "127.0.0.1", port = port_b } })
    t.eq(bch:request("WHO\n", line_response), "B", "the backup set by changebackup")
    bch:close()
end)
