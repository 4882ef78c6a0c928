-- skynet.socketchannel against a line-protocol server in this service (real TCP on 127.0.0.1):
-- order mode with concurrent callers, errors from the server, lost connections and automatic
-- reconnection, auth on every connection, backups, connect retries, session mode, close.
local skynet = require "skynet"
local socket = require "skynet.socket"
local socketchannel = require "skynet.socketchannel"
local t = require "tlib"

local line_server = require "line_server"
local line_response = line_server.line_response

-- The server: line_server's ECHO, AUTH and DROP, and
--   ERR x           -> ERR x
--   ECHOCLOSE x     -> x, then closes the connection
--   SESSION n cs x  -> "n x" after cs centiseconds (answers overtake each other)
local stats = { connections = 0 }
local open_conns = {}

local commands = {}
function commands.ERR(id, rest) socket.write(id, "ERR " .. rest .. "\n") end
function commands.ECHOCLOSE(id, rest)
    socket.write(id, rest .. "\n")
    return "close"
end
function commands.SESSION(id, rest)
    local n, cs, x = rest:match("^(%d+) (%d+) (.*)$")
    skynet.fork(function()
        skynet.sleep(tonumber(cs))
        socket.write(id, n .. " " .. x .. "\n")
    end)
end

local function server(password, port)
    return line_server.listen(commands, {
        password = password,
        port = port,
        on_open = function(id)
            stats.connections = stats.connections + 1
            open_conns[id] = true
        end,
        on_close = function(id) open_conns[id] = nil end,
    })
end

local function closed_port()
    local id, _, p = socket.listen("127.0.0.1", 0)
    socket.close(id)
    return p
end

t.run(function()
    local port = server()
    local ch = socketchannel.channel { host = "127.0.0.1", port = port, nodelay = true }
    t.eq(ch:connected(), false, "not connected before the first request")
    t.eq(ch:connect(true), true, "connect once")
    t.eq(ch:connected(), true, "connected")
    t.eq(ch:request("ECHO hi\n", line_response), "hi", "a request")
    t.eq(ch:request("ECHO", nil), nil, "no response expected") -- an incomplete line, no answer
    t.eq(ch:request(" again\n", line_response), "again", "request as the rest of the line")
    t.eq(ch:request({ "EC", "HO parts\n" }, line_response), "parts", "request as a table")
    t.eq(ch:request("ECHO", line_response, { " pad", "ded\n" }), "padded", "request with padding")

    -- Many coroutines at once: each gets its own answer, in order.
    local answers, done = {}, 0
    for i = 1, 30 do
        skynet.fork(function()
            answers[i] = ch:request("ECHO " .. i .. "\n", line_response)
            done = done + 1
        end)
    end
    t.wait_until(function() return done == 30 end, 500, "30 concurrent requests")
    for i = 1, 30 do t.eq(answers[i], tostring(i), "answer " .. i) end

    -- ok == false raises the data unchanged; the connection stays usable.
    t.eq(select(2, pcall(ch.request, ch, "ERR not today\n", line_response)), "not today",
        "server error text")
    t.eq(ch:request("ECHO still\n", line_response), "still", "usable after an error answer")

    -- A lost connection fails what is in flight with a socket error naming the server; the next
    -- request reconnects.
    local conns = stats.connections
    local err = t.raises({ "socket channel 127.0.0.1:" .. port, "connection closed" },
        ch.request, ch, "DROP\n", line_response)
    t.ok(socketchannel.iserror(err), "iserror on a lost connection")
    t.ok(not socketchannel.iserror("ERR other"), "iserror on other text")
    t.eq(ch:request("ECHO back\n", line_response), "back", "reconnected")
    t.eq(stats.connections, conns + 1, "one new connection")

    -- Answers already sent before the server closed are not lost.
    local r = {}
    skynet.fork(function() r[1] = ch:request("ECHO one\n", line_response) end)
    skynet.fork(function() r[2] = ch:request("ECHO two\n", line_response) end)
    skynet.fork(function() r[3] = ch:request("ECHOCLOSE three\n", line_response) end)
    t.wait_until(function() return r[3] end, 500, "three pipelined answers")
    t.eq(r[1] .. r[2] .. r[3], "onetwothree", "answers before the close")
    t.wait_until(function() return not ch:connected() end, 500, "the channel saw the close")
    t.eq(ch:request("ECHO after\n", line_response), "after", "reconnected after the close")

    -- The server closes an idle connection: the next request reconnects transparently.
    for id in pairs(open_conns) do socket.close(id) end
    t.wait_until(function() return next(open_conns) == nil end, 500, "server closed its side")
    t.wait_until(function() return not ch:connected() end, 500, "the channel saw the close")
    t.eq(ch:request("ECHO idle\n", line_response), "idle", "reconnected after an idle close")

    -- close: what waits fails, later requests fail.
    local pending
    skynet.fork(function()
        pending = table.pack(pcall(ch.request, ch, "SESSION 1 1000 never\n", line_response))
    end)
    skynet.yield()
    ch:close()
    t.wait_until(function() return pending end, 500, "the pending request failed")
    t.eq(pending[1], false, "pending request fails on close")
    t.ok(tostring(pending[2]):find("channel closed", 1, true), "close text: " .. tostring(pending[2]))
    t.ok(pending[2] == socketchannel.error, "a channel error equals socketchannel.error")
    t.raises({ "channel closed" }, ch.request, ch, "ECHO x\n", line_response)

    -- Auth runs on every new connection, before other requests.
    local authport = server("secret")
    local authed = 0
    local ach = socketchannel.channel {
        host = "127.0.0.1",
        port = authport,
        auth = function(c)
            authed = authed + 1
            c:request("AUTH secret\n", line_response)
        end,
    }
    t.eq(ach:request("ECHO with auth\n", line_response), "with auth", "request after auth")
    t.raises({ "connection closed" }, ach.request, ach, "DROP\n", line_response)
    t.eq(ach:request("ECHO again\n", line_response), "again", "auth again on reconnect")
    t.eq(authed, 2, "auth ran per connection")
    ach:close()

    local bad = socketchannel.channel {
        host = "127.0.0.1",
        port = authport,
        auth = function(c) c:request("AUTH wrong\n", line_response) end,
    }
    err = t.raises({ "socket channel 127.0.0.1:" .. authport, "auth failed: bad password" },
        bad.connect, bad, true)
    t.ok(socketchannel.iserror(err), "auth failure is a channel error")
    bad:close()

    -- Connect failures: once raises at once, with the reason; backups are tried in turn.
    local dead = closed_port()
    local dch = socketchannel.channel { host = "127.0.0.1", port = dead }
    err = t.raises({ "socket channel 127.0.0.1:" .. dead, "connect failed", "refused" },
        dch.connect, dch, true)
    t.ok(socketchannel.iserror(err), "connect failure is a channel error")
    t.raises({ "refused" }, dch.request, dch, "ECHO x\n", line_response)
    dch:close()
    local bch = socketchannel.channel { host = "127.0.0.1", port = dead,
        backup = { "127.0.0.1:" .. closed_port(), { host = "127.0.0.1", port = port } } }
    t.eq(bch:request("ECHO via backup\n", line_response), "via backup", "a backup answered")
    bch:close()

    -- connect() without once retries until the server appears.
    local later = closed_port()
    local rch = socketchannel.channel { host = "127.0.0.1", port = later, backoff_min = 1,
        backoff_max = 2 }
    local connected
    skynet.fork(function() connected = rch:connect() end)
    local waiting_request
    skynet.fork(function() waiting_request = rch:request("ECHO queued\n", line_response) end)
    skynet.sleep(5) -- a few refused attempts (the test holds either way)
    t.eq(connected, nil, "still connecting")
    local _, lid = server(nil, later)
    t.wait_until(function() return connected end, 500, "connect after retries")
    t.wait_until(function() return waiting_request end, 500, "the request that waited")
    t.eq(waiting_request, "queued", "request made while connecting")
    rch:close()
    socket.close(lid)

    -- Session mode: answers in any order reach their own callers.
    local sch = socketchannel.channel {
        host = "127.0.0.1",
        port = port,
        response = function(sock)
            local line = sock:readline()
            local n, x = line:match("^(%d+) (.*)$")
            return tonumber(n), true, x
        end,
    }
    local got, count = {}, 0
    for i = 1, 10 do
        skynet.fork(function()
            got[i] = sch:request(string.format("SESSION %d %d v%d\n", i, 11 - i, i), i)
            count = count + 1
        end)
    end
    t.wait_until(function() return count == 10 end, 500, "10 session answers")
    for i = 1, 10 do t.eq(got[i], "v" .. i, "session " .. i) end
    err = t.raises({ "connection closed" }, sch.request, sch, "DROP\n", 99)
    t.eq(sch:request("SESSION 5 0 back\n", 5), "back", "session mode reconnects")
    sch:close()
end)
