-- http.httpc against a server written with http.httpd and http.sockethelper in a keep-alive loop:
-- chunked responses, a response read to the close, 1xx interim responses, pipelined requests
-- read by httpd.read_request in order, the response size limit, httpc.timeout, and clear errors
-- for a refused connection, a name that does not resolve and a bad host; http.url.
local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local httpc = require "http.httpc"
local sockethelper = require "http.sockethelper"
local url = require "http.url"
local t = require "tlib"
local hlib = require "hlib"

local served = {} -- urls in the order the server read them

-- One connection: requests read by httpd.read_request until the client closes.
local function serve(id)
    socket.start(id)
    local read, write = sockethelper.readfunc(id), sockethelper.writefunc(id)
    while true do
        local code, target, method, header, body = httpd.read_request(read, 1024)
        if not code then break end
        if code ~= 200 then
            httpd.write_response(write, code)
            break
        end
        served[#served + 1] = target
        if target == "/chunked" then
            local parts = { "one ", "two ", "", "three" }
            local i = 0
            httpd.write_response(write, 200, function()
                i = i + 1
                return parts[i]
            end, { ["x-kind"] = "chunked" })
        elseif target == "/to-close" then
            write("HTTP/1.0 200 OK\r\nX-Kind: close\r\n\r\nuntil the end")
            break
        elseif target == "/interim" then
            write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
        elseif target == "/big" then
            httpd.write_response(write, 200, string.rep("b", 5000))
        elseif target == "/silent" then
            socket.block(id) -- never answers; waits for the client to go
            break
        else
            httpd.write_response(write, 200, method .. " " .. target .. " " .. body ..
                " " .. (header["x-test"] or ""))
        end
    end
    socket.close(id)
end

t.run(function()
    local listener, _, port = socket.listen("127.0.0.1", 0)
    socket.start(listener, function(id) serve(id) end)
    local host = "127.0.0.1:" .. port

    local recv = {}
    local status, body = httpc.get(host, "/chunked", recv)
    t.eq(status, 200, "chunked status")
    t.eq(body, "one two three", "chunked body")
    t.eq(recv["transfer-encoding"], "chunked", "chunked header")
    t.eq(recv["x-kind"], "chunked", "write_response's header")
    recv = {}
    status, body = httpc.get(host, "/to-close", recv)
    t.eq(body, "until the end", "a body read to the close")
    t.eq(recv["x-kind"], "close", "its header")
    status, body = httpc.get(host, "/interim")
    t.eq(status, 200, "1xx skipped")
    t.eq(body, "final", "the final response after 100")
    status, body = httpc.request("PUT", host, "/x", nil, { ["X-Test"] = "h" }, "data")
    t.eq(body, "PUT /x data h", "method, url, body and header reach httpd")

    -- Pipelined requests read one by one by httpd.read_request on one readfunc.
    local c = hlib.connect(port)
    c:send(hlib.get("/p1") .. hlib.get("/p2") .. "POST /p3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    t.eq(c:response().body, "GET /p1  ", "pipelined 1")
    t.eq(c:response().body, "GET /p2  ", "pipelined 2")
    t.eq(c:response().body, "POST /p3 abc ", "pipelined 3")
    c:send("POST /p4 HTTP/1.1\r\nContent-Length: 2000\r\n\r\n")
    t.eq(c:response().status, 413, "httpd: body over bodylimit")
    c:close()

    -- The response size limit.
    httpc.max_body = 1000
    t.raises({ "GET http://" .. host .. "/big", "over 1000 bytes", "httpc.max_body" },
        httpc.get, host, "/big")
    httpc.max_body = 16 * 1024 * 1024
    t.eq(#select(2, httpc.get(host, "/big")), 5000, "big body under the default limit")

    -- httpc.timeout (centiseconds) bounds a server that never answers.
    httpc.timeout = 20
    local t0 = skynet.now()
    t.raises({ "GET http://" .. host .. "/silent", "timed out after 20 cs" }, httpc.get, host,
        "/silent")
    t.ok(skynet.now() - t0 < 100, "timed out in time")
    t.eq(select(2, httpc.get(host, "/after")), "GET /after  ", "served after a timeout")
    httpc.timeout = nil

    -- Connection errors name the request and the reason.
    local l2, _, closed_port = socket.listen("127.0.0.1", 0)
    socket.close(l2)
    local err = t.raises({ "GET http://127.0.0.1:" .. closed_port .. "/", "refused" }, httpc.get,
        "127.0.0.1:" .. closed_port, "/")
    t.ok(not err:find("Socket Error", 1, true), "no socket_error wrapper in " .. err)
    t.raises({ "no-such-host.invalid", "resolve" }, httpc.get, "no-such-host.invalid", "/")
    t.raises({ "unsupported scheme", "https" }, httpc.get, "https://example.com", "/")
    t.raises({ "bad host" }, httpc.get, "a b:x", "/")

    -- sockethelper.connect with a timeout: refused is reported as such, not as a timeout.
    local ok, e = pcall(sockethelper.connect, "127.0.0.1", closed_port, 100)
    t.ok(not ok and e == sockethelper.socket_error, "connect raises socket_error")
    t.ok(tostring(e):find("refused", 1, true), "socket_error says why: " .. tostring(e))

    -- http.url
    local path, query = url.parse("/a%20b/c?x=1&y=%zz&z")
    t.eq(path, "/a b/c", "path decoded")
    local q = url.parse_query(query)
    t.eq(q.x, "1", "query x")
    t.eq(q.y, "%zz", "an invalid escape is kept")
    t.eq(q.z, "", "a name without a value")
    t.eq(select(2, url.parse("/nothing")), "", "no query")
    t.eq(url.encode("a b&c/é"), "a%20b%26c%2F%C3%A9", "encode")
end)
