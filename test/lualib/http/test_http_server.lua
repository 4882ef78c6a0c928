-- http.server and http.httpc over real sockets in one node: GET with a query, POST with a body,
-- chunked request bodies, keep-alive reuse, pipelined requests answered in order, HTTP/1.0 and
-- Connection: close, HEAD, a handler that raises (500, the connection stays usable), a handler
-- that yields, and the header the handler returns.
local skynet = require "skynet"
local socket = require "skynet.socket"
local server = require "http.server"
local httpc = require "http.httpc"
local t = require "tlib"
local hlib = require "hlib"

local seen = {} -- requests in arrival order

local function handler(req)
    seen[#seen + 1] = req
    if req.path == "/echo" then
        return 200, req.method .. " " .. req.body, { ["x-peer"] = req.peer }
    elseif req.path == "/query" then
        local keys = {}
        for k, v in pairs(req.query) do keys[#keys + 1] = k .. "=" .. v end
        table.sort(keys)
        return 200, table.concat(keys, ",")
    elseif req.path == "/boom" then
        error("boom at " .. req.url)
    elseif req.path == "/slow" then
        skynet.sleep(tonumber(req.query.cs))
        return 200, "slow " .. req.query.n
    elseif req.path == "/header" then
        return 201, "", { ["x-one"] = "1", ["set-cookie"] = { "a=1", "b=2" } }
    elseif req.path == "/nothing" then
        return 204, "ignored"
    elseif req.path == "/bad-header" then
        return 200, "x", { ["x-bad"] = "a\r\nb" }
    end
    return 404, "no " .. req.path .. "\n"
end

t.run(function()
    local _, port = server.listen("127.0.0.1", 0, handler)
    local host = "127.0.0.1:" .. port

    -- httpc round trips.
    local recv = {}
    local status, body = httpc.get(host, "/query?a=1&b=x%20y&c=d+e", recv)
    t.eq(status, 200, "GET status")
    t.eq(body, "a=1,b=x y,c=d e", "query decoded")
    t.eq(recv["content-length"], "15", "response header given to recvheader")
    status, body = httpc.request("POST", "http://" .. host, "/echo", nil, nil, "hello body")
    t.eq(status, 200, "POST status")
    t.eq(body, "POST hello body", "POST body reached the handler")
    t.eq(seen[#seen].header["content-length"], "10", "request header, lowercase")
    t.ok(seen[#seen].peer:match "^127%.0%.0%.1:%d+$", "req.peer is host:port")
    status, body = httpc.post(host, "/echo", { name = "a b&c" })
    t.eq(body, "POST name=a%20b%26c", "form url-encoded")
    status, body = httpc.get(host, "/missing")
    t.eq(status, 404, "handler status")
    t.eq(body, "no /missing\n", "handler body")
    t.eq(httpc.head(host, "/echo"), 200, "HEAD status")

    -- Keep-alive: two requests on one connection, the same peer.
    local c = hlib.connect(port)
    c:send(hlib.get("/echo"))
    local r1 = c:response()
    c:send(hlib.get("/echo"))
    local r2 = c:response()
    t.eq(r1.status, 200, "first on keep-alive")
    t.eq(r2.status, 200, "second on keep-alive")
    t.ok(r1.keep_alive and r2.keep_alive, "keep-alive")
    t.eq(r1.header["x-peer"], r2.header["x-peer"], "one connection served both")

    -- Pipelining: three requests in one write, answered in order although the first is slowest.
    c:send(hlib.get("/slow?cs=20&n=1") .. hlib.get("/slow?cs=1&n=2") .. hlib.get("/slow?cs=0&n=3"))
    for n = 1, 3 do
        local r = c:response()
        t.eq(r.body, "slow " .. n, "pipelined response " .. n .. " in order")
    end

    -- A chunked request body, split across writes, with a trailer.
    c:send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    skynet.sleep(1)
    c:send("lo\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n")
    local r = c:response()
    t.eq(r.body, "POST hello world", "chunked body joined")
    t.eq(seen[#seen].header["x-trailer"], "yes", "trailer joins the header")

    -- HEAD: the header of a GET, no body.
    c:send("HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c:response(true)
    t.eq(r.status, 200, "HEAD")
    t.eq(r.header["content-length"], "5", "HEAD keeps GET's content-length")
    t.eq(r.body, "", "HEAD has no body")

    -- A handler that raises: 500, and the connection still answers.
    c:send(hlib.get("/boom"))
    r = c:response()
    t.eq(r.status, 500, "handler error -> 500")
    c:send(hlib.get("/echo"))
    t.eq(c:response().status, 200, "connection usable after a handler error")

    -- Header from the handler; a list of values gives one line each; CR/LF in a value -> 500.
    c:send(hlib.get("/header"))
    r = c:response()
    t.eq(r.status, 201, "handler's status")
    t.eq(r.header["x-one"], "1", "handler's header")
    t.eq(r.header["set-cookie"], "a=1, b=2", "two set-cookie lines")
    c:send(hlib.get("/nothing") .. hlib.get("/echo"))
    r = c:response()
    t.eq(r.status, 204, "204")
    t.eq(r.header["content-length"], nil, "204 has no content-length")
    t.eq(r.body, "", "204 has no body")
    t.eq(c:response().body, "GET ", "the response after a 204")
    c:send(hlib.get("/bad-header"))
    t.eq(c:response().status, 500, "CR LF in a header value is refused")
    t.ok(c:closed(), "closed after the refused response")
    c:close()

    -- Connection: close, and HTTP/1.0 without keep-alive: answered, then closed.
    c = hlib.connect(port)
    c:send(hlib.get("/echo", "Connection: close\r\n"))
    r = c:response()
    t.eq(r.header.connection, "close", "connection: close echoed")
    t.ok(c:closed(), "closed after Connection: close")
    c:close()
    c = hlib.connect(port)
    c:send("GET /echo HTTP/1.0\r\n\r\n")
    t.eq(c:response().status, 200, "HTTP/1.0")
    t.ok(c:closed(), "HTTP/1.0 closed")
    c:close()
    c = hlib.connect(port)
    c:send("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = c:response()
    t.eq(r.header.connection, "keep-alive", "HTTP/1.0 keep-alive acknowledged")
    c:send("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    t.eq(c:response().status, 200, "HTTP/1.0 keep-alive reused")
    c:close()

    -- server.serve on a socket accepted elsewhere, with the peer given in opts.
    local l2, _, port2 = socket.listen("127.0.0.1", 0)
    socket.start(l2, function(fd, addr)
        server.serve(fd, handler, { peer = "given " .. addr, max_body = 8 })
    end)
    recv = {}
    status = httpc.get("127.0.0.1:" .. port2, "/echo", recv)
    t.eq(status, 200, "serve: status")
    t.ok(recv["x-peer"]:match "^given 127%.0%.0%.1:%d+$", "serve: opts.peer is req.peer")
    t.eq(httpc.request("POST", "127.0.0.1:" .. port2, "/echo", nil, nil, "123456789"), 413,
        "serve: opts apply")
    t.raises({ "opts.max_body must be a positive integer" }, server.listen, "127.0.0.1", 0,
        handler, { max_body = 0 })
end)
