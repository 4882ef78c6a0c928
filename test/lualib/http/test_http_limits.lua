-- http.server's limits over raw sockets: an oversized header (431), a body over the limit
-- announced by Content-Length (413 before any of it is sent) or arriving chunked (413), a client
-- that trickles a request or sends nothing (408 after idle_ms), garbage (400), a connection over
-- max_connections (503), and a client that never reads its responses (dropped). Each is answered
-- with its status, logged once with the peer, and the connection closed; after each the server
-- still answers a normal request.
local skynet = require "skynet"
local socket = require "skynet.socket"
local server = require "http.server"
local httpc = require "http.httpc"
local t = require "tlib"
local hlib = require "hlib"

local BIG = string.rep("x", 256 * 1024)
local handled = 0

local function handler(req)
    handled = handled + 1
    if req.path == "/big" then return 200, BIG end
    if req.path == "/hold" then
        skynet.sleep(tonumber(req.query.cs))
        return 200, "held"
    end
    return 200, "ok " .. #req.body
end

local OPTS = { max_header = 1024, max_body = 4096, idle_ms = 300, max_connections = 4 }

t.run(function()
    local _, port = server.listen("127.0.0.1", 0, handler, OPTS)
    local host = "127.0.0.1:" .. port
    local function still_serving(what)
        local status, body = httpc.get(host, "/")
        t.eq(status, 200, "a normal request after " .. what)
        t.eq(body, "ok 0", "its body after " .. what)
    end
    local function refused(c, status, what)
        local r = c:response()
        t.eq(r.status, status, what)
        t.eq(r.header.connection, "close", what .. ": connection: close")
        t.ok(c:closed(), what .. ": closed")
        c:close()
        still_serving(what)
    end

    -- 431: a header past max_header, in one write and trickled in pieces.
    local c = hlib.connect(port)
    c:send(hlib.get("/", "X-Big: " .. string.rep("a", 2000) .. "\r\n"))
    refused(c, 431, "oversized header")
    c = hlib.connect(port)
    c:send("GET / HTTP/1.1\r\n")
    for _ = 1, 12 do c:send("X-Some: " .. string.rep("b", 100) .. "\r\n") end
    refused(c, 431, "header grown past the limit")
    -- A header just under the limit passes.
    c = hlib.connect(port)
    local line = hlib.get("/")
    c:send(hlib.get("/", "X-Fill: " .. string.rep("c", 1024 - #line - 10) .. "\r\n"))
    t.eq(c:response().status, 200, "a header within the limit")
    c:close()

    -- 413: announced by Content-Length (no body byte is sent), and a chunked body growing past.
    c = hlib.connect(port)
    c:send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000000\r\n\r\n")
    refused(c, 413, "huge content-length")
    c = hlib.connect(port)
    c:send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ = 1, 5 do c:send("400\r\n" .. string.rep("d", 1024) .. "\r\n") end
    refused(c, 413, "chunked body past the limit")
    c = hlib.connect(port)
    c:send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n" .. string.rep("e", 4096))
    t.eq(c:response().body, "ok 4096", "a body at the limit")
    c:close()

    -- 400: garbage, and a bad request in the middle of a keep-alive connection.
    c = hlib.connect(port)
    c:send("\1\2\3 garbage \255\r\n\r\n")
    refused(c, 400, "garbage")
    c = hlib.connect(port)
    c:send(hlib.get("/") .. "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n")
    t.eq(c:response().status, 200, "the good request before the bad one")
    refused(c, 400, "malformed header line")

    -- 408: a request trickling in slower than idle_ms allows, and a client that says nothing.
    local slow = hlib.connect(port)
    local t0 = skynet.now()
    local trickle = hlib.get("/", "X-Slow: " .. string.rep("f", 40) .. "\r\n")
    skynet.fork(function()
        for i = 1, #trickle - 1 do
            if not socket.write(slow.fd, trickle:sub(i, i)) then break end
            skynet.sleep(2)
        end
    end)
    refused(slow, 408, "trickled request")
    t.ok(skynet.now() - t0 >= 30, "408 not before idle_ms")
    c = hlib.connect(port)
    t0 = skynet.now()
    refused(c, 408, "silent client")
    local waited = skynet.now() - t0
    t.ok(waited >= 30 and waited < 200, "silent client timed out after about idle_ms: " .. waited)
    -- The idle time starts again after each response: a keep-alive client pausing less than
    -- idle_ms between requests is served.
    c = hlib.connect(port)
    for _ = 1, 3 do
        skynet.sleep(15)
        c:send(hlib.get("/"))
        t.eq(c:response().status, 200, "keep-alive under idle_ms")
    end
    c:close()

    -- 503: a connection over max_connections, answered before anything is read.
    local held, holding = {}, handled
    for i = 1, 4 do
        held[i] = hlib.connect(port)
        held[i]:send(hlib.get("/hold?cs=30"))
    end
    t.wait_until(function() return handled == holding + 4 end, 100, "4 requests in handlers")
    c = hlib.connect(port)
    local r = c:response()
    t.eq(r.status, 503, "over max_connections")
    c:close()
    for i = 1, 4 do
        t.eq(held[i]:response().body, "held", "held request " .. i .. " answered")
        held[i]:close()
    end
    still_serving("503")

    -- A client that never reads: pipelined requests for big responses. The server stops at the
    -- socket's write mark and drops the connection after idle_ms, never holding more than the
    -- write bound; other clients are served meanwhile.
    local before = handled
    c = hlib.connect(port)
    socket.pause(c.fd) -- the kernel's buffers fill, then the server's write queue
    local burst = {}
    for i = 1, 200 do burst[i] = hlib.get("/big") end
    c:send(table.concat(burst))
    still_serving("a client that does not read")
    -- The server's side of the connection: the socket whose peer is the client's local port.
    local peer = "127.0.0.1:" .. socket.netstat(c.fd).port
    local function server_side()
        for _, s in ipairs(socket.netstat()) do
            if s.address == peer then return s end
        end
    end
    -- Still open (waiting for the client to read), with the unsent responses near the socket's
    -- mark (1 MB) rather than at the 4 MB bound that drops a connection at once.
    local side = server_side()
    t.ok(side, "the server waits for the non-reading client")
    t.ok(side.wbuffer <= 2 * 1024 * 1024, "unsent responses near the mark: " .. side.wbuffer)
    t.wait_until(function() return not server_side() end, 500, "the non-reading client dropped")
    t.ok(c:closed(), "the non-reading client was dropped")
    c:close()
    t.ok(handled - before < 200, "not every pipelined request was answered: " ..
        (handled - before))
end)
