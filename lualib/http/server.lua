-- http.server: an HTTP/1.1 server for a Lua service, on skynet.socket and libhttp-parser.
--
--   server.listen(host, port, handler [, opts]) -> listener id, bound port
--       Listens (port 0: the kernel picks) and serves every accepted connection in this
--       service, each in its own coroutine. Raises when it cannot listen.
--   server.serve(fd, handler [, opts])
--       Serves one accepted socket id (e.g. handed over by another service) until it closes:
--       starts it, yields until the connection ends, then returns.
--   server.close(listener)   stops accepting (open connections finish their request)
--
--   handler(req) -> status, body [, header]
--       req = { method =, url =, path = (decoded), query = { name = value }, header =
--       { lowercase name = value }, body =, peer = "host:port", version = "1.1" }
--       body: a string (nil: empty); header: { name = value }. A handler that raises gets a
--       500 answered and its error logged with the peer; the connection stays usable. The
--       handler may yield (call other services); requests of one connection are answered in
--       order, one at a time.
--
--   opts: max_header (bytes, default 8192), max_body (bytes, default 1 MB), idle_ms (default
--   30000), max_connections (listen only, default 256), peer (serve only, the client address
--   for logs and req.peer), name (the prefix of log lines, default "http").
--
-- Keep-alive is HTTP/1.1's default; "Connection: close" and HTTP/1.0 without keep-alive end the
-- connection after the response. Pipelined requests are answered in order. What a client sends
-- cannot cost more than the limits; each of these is answered with its status, logged once with
-- the peer, and the connection closed:
--   400  a request the parser refuses
--   408  a request not whole within idle_ms of the connection's start or of the previous
--        response (a silent client and one that trickles bytes alike)
--   413  a body over max_body (at once when Content-Length announces it)
--   431  a request line and header over max_header
--   503  a connection over max_connections (answered before reading it; logged at most once a
--        second with the count)
-- A client that does not read its responses: once the socket's write queue passes its mark
-- (config socket_warning_kb), no further request is read until it drains; still undrained after
-- idle_ms, or past 4 times the mark, the connection is dropped.
--
-- Thread: the service that calls listen or serve; connections run in that service's coroutines.
local skynet = require "skynet"
local socket = require "skynet.socket"
local parser = require "skyhive.http.parser"
local httpd = require "http.httpd"
local urllib = require "http.url"

local pairs, next, pcall, xpcall, error, type, tostring, tonumber =
    pairs, next, pcall, xpcall, error, type, tostring, tonumber
local format, traceback, now = string.format, debug.traceback, skynet.now

local server = {}

-- Pipelined requests answered from buffered bytes before a connection's coroutine yields once,
-- so that one connection cannot hold the service.
local YIELD_EVERY = 16
-- Responses gathered for one write when answering pipelined requests.
local BATCH_BYTES = 64 * 1024

local DEFAULTS = {
    max_header = 8192,
    max_body = 1024 * 1024,
    idle_ms = 30000,
    max_connections = 256,
}

local function options(opts)
    opts = opts or {}
    local o = {}
    for k, v in pairs(DEFAULTS) do
        local given = opts[k]
        if given ~= nil then
            if math.type(given) ~= "integer" or given < 1 then
                error(format("http.server: opts.%s must be a positive integer (got %s)", k,
                    tostring(given)), 3)
            end
            v = given
        end
        o[k] = v
    end
    o.peer = opts.peer
    o.name = opts.name or "http"
    return o
end

----------------------------------------------------------------------------------------------
-- Deadlines: one sweeper coroutine per service checks every connection waiting for a request
-- (or for its responses to drain) against its deadline, instead of one timer per request.

local waiting = {} -- conn -> true while it has a deadline
local sweeping = false
local tick = 100 -- centiseconds between sweeps: a quarter of the smallest idle time, 1..100

local function expire(conn)
    if conn.phase == "read" then
        local why = conn.reader:started() and "request not whole" or "no request"
        conn.log(format("408 %s within %d ms", why, conn.opts.idle_ms))
        conn.closing = true
        conn.closed = true -- closed here: serve must not close the id again
        socket.write(conn.fd, httpd.head(408, { connection = "close" },
            "content-length: 0\r\n\r\n"))
        socket.close(conn.fd)
    else
        conn.log(format("responses unread for %d ms: disconnecting", conn.opts.idle_ms))
        conn.closing = true
        socket.shutdown(conn.fd)
    end
end

local function sweep()
    while next(waiting) do
        skynet.sleep(tick)
        local t = now()
        for conn in pairs(waiting) do
            if conn.deadline <= t then
                waiting[conn] = nil
                skynet.fork(expire, conn)
            end
        end
    end
    sweeping = false
end

local function arm(conn, phase)
    conn.phase = phase
    conn.deadline = now() + (conn.opts.idle_ms + 9) // 10
    waiting[conn] = true
    if not sweeping then
        sweeping = true
        skynet.fork(sweep)
    end
end

local function disarm(conn)
    waiting[conn] = nil
end

----------------------------------------------------------------------------------------------
-- One connection

local function make_request(msg, peer)
    local path, query = urllib.parse(msg.url)
    return {
        method = msg.method,
        url = msg.url,
        path = path,
        query = urllib.parse_query(query),
        header = msg.header,
        body = msg.body,
        peer = peer,
        version = msg.version,
    }
end

-- Runs the handler; -> status, body, header of the response to send.
local function answer(conn, handler, req)
    local ok, status, body, header = xpcall(handler, traceback, req)
    if not ok then
        conn.log(format("handler error on %s %s: %s", req.method, req.url, tostring(status)))
        return 500, "internal server error\n"
    end
    if math.type(status) ~= "integer" or status < 100 or status > 999 then
        conn.log(format("handler returned status %s for %s %s", tostring(status), req.method,
            req.url))
        return 500, "internal server error\n"
    end
    if body ~= nil and type(body) ~= "string" then
        conn.log(format("handler returned a %s body for %s %s (string expected)", type(body),
            req.method, req.url))
        return 500, "internal server error\n"
    end
    if header ~= nil and type(header) ~= "table" then
        conn.log(format("handler returned a %s header for %s %s (table expected)", type(header),
            req.method, req.url))
        return 500, "internal server error\n"
    end
    return status, body or "", header
end

local function response_text(status, body, header, keep, version, head)
    local framing
    if keep then
        framing = version == "1.0" and "connection: keep-alive\r\n" or ""
    else
        framing = "connection: close\r\n"
    end
    -- 1xx and 204 have no body and no length; 304 and a HEAD's response keep the length of the
    -- body they stand for, without it.
    local bodiless = status < 200 or status == 204
    if bodiless then
        framing = framing .. "\r\n"
    else
        framing = framing .. format("content-length: %d\r\n\r\n", #body)
    end
    local ok, text = pcall(httpd.head, status, header, framing)
    if not ok then return nil, text end
    if head or bodiless or status == 304 then return text end
    return text .. body
end

-- Waits until the socket has under `bytes` queued for writing. -> false when the connection is
-- closing (or was dropped here, still over after idle_ms).
local function wait_drained(conn, bytes)
    local deadline = now() + (conn.opts.idle_ms + 9) // 10
    while not conn.closing do
        local info = socket.netstat(conn.fd)
        if not info then return false end
        if info.wbuffer < bytes then return true end
        if now() >= deadline then
            conn.log(format("responses unread for %d ms (%d KB unsent): disconnecting",
                conn.opts.idle_ms, info.wbuffer // 1024))
            conn.closing = true
            socket.shutdown(conn.fd)
            return false
        end
        skynet.sleep(1)
    end
    return false
end

-- Answers a request the limits refused, and closes.
local function refuse(conn, status, why)
    conn.log(format("%d %s", status, why))
    conn.closing = true
    socket.write(conn.fd, response_text(status, why .. "\n", nil, false, "1.1"))
end

local function serve(fd, handler, opts)
    local peer = opts.peer or format("socket %d", fd)
    local conn = {
        fd = fd,
        opts = opts,
        reader = parser.new("request", opts.max_header, opts.max_body),
    }
    function conn.log(text)
        skynet.error(format("%s %s: %s", opts.name, peer, text))
    end
    socket.start(fd)
    socket.nodelay(fd) -- a response is whole when written: do not wait for the client's ACK
    local mark = math.tointeger(tonumber(skynet.getenv "socket_warning_kb" or "")) or 1024
    socket.warning(fd, function(_, kb)
        if kb >= 4 * mark and not conn.closing then
            conn.log(format("%d KB of responses unsent, the client does not read: " ..
                "disconnecting", kb))
            conn.closing = true
            socket.shutdown(fd)
        end
    end)
    local reader = conn.reader
    local written = 0 -- response bytes since the write queue was last checked
    local served = 0
    tick = math.max(1, math.min(tick, opts.idle_ms // 40))
    -- Responses to pipelined requests wait here and go out in one write once no further whole
    -- request is buffered (or BATCH_BYTES have gathered).
    local out, out_bytes = {}, 0
    local function flush()
        local n = #out
        if n == 0 then return true end
        local ok = socket.write(fd, n == 1 and out[1] or out)
        out, out_bytes = {}, 0
        return ok
    end
    arm(conn, "read")
    while not conn.closing do
        local msg, status, why = reader:next()
        if msg == nil then
            if out_bytes > 0 then
                if not flush() then break end
                -- Stop reading while the client leaves its responses unread.
                arm(conn, "write")
                if not socket.drain(fd) then break end
                arm(conn, "read")
            end
            local data = socket.read(fd)
            if conn.closing then break end
            if not data then
                if reader:started() then conn.log("closed in the middle of a request") end
                break
            end
            msg, status, why = reader:next(data)
        end
        if msg == false then
            flush()
            refuse(conn, status, why)
            break
        elseif msg then
            disarm(conn)
            local req = make_request(msg, peer)
            local code, body, header = answer(conn, handler, req)
            if conn.closing then break end
            local keep = msg.keep_alive and not msg.upgrade
            local text, err = response_text(code, body, header, keep, msg.version,
                msg.method == "HEAD")
            if not text then
                conn.log(format("bad response header for %s %s: %s", req.method, req.url, err))
                keep = false
                text = response_text(500, "internal server error\n", nil, false, "1.1")
            end
            out[#out + 1] = text
            out_bytes = out_bytes + #text
            if not keep then
                flush()
                break
            end
            if out_bytes >= BATCH_BYTES and not flush() then break end
            -- Pipelined requests already buffered are answered without waiting for the client,
            -- faster than the socket's warning events come back: every half mark of response
            -- bytes, ask the socket thread how much is unsent and wait below the mark.
            written = written + #text
            if written >= mark * 512 then
                written = 0
                if not flush() or not wait_drained(conn, mark * 1024) then break end
            end
            served = served + 1
            if served % YIELD_EVERY == 0 and reader:pending() > 0 then skynet.yield() end
            arm(conn, "read")
        end
    end
    disarm(conn)
    conn.closing = true
    if not conn.closed then socket.close(fd) end
end

function server.serve(fd, handler, opts)
    assert(type(handler) == "function", "http.server.serve: handler must be a function")
    serve(fd, handler, options(opts))
end

local listeners = {}

function server.listen(host, port, handler, opts)
    assert(type(handler) == "function", "http.server.listen: handler must be a function")
    local o = options(opts)
    local id, _, bound = socket.listen(host, port)
    local active = 0
    local refused, refused_logged = 0, -100
    listeners[id] = true
    socket.start(id, function(fd, addr)
        if active >= o.max_connections then
            -- One line a second at most, however many connections are refused.
            refused = refused + 1
            if now() - refused_logged >= 100 then
                skynet.error(format("%s %s: 503 over %d connections (%d refused since the " ..
                    "last such line)", o.name, addr, o.max_connections, refused))
                refused, refused_logged = 0, now()
            end
            socket.start(fd)
            socket.write(fd, response_text(503, "too many connections\n", nil, false, "1.1"))
            socket.close(fd)
            return
        end
        active = active + 1
        local per = setmetatable({ peer = addr }, { __index = o })
        local ok, err = pcall(serve, fd, handler, per)
        active = active - 1
        if not ok then
            skynet.error(format("%s %s: %s", o.name, addr, tostring(err)))
            socket.close(fd)
        end
    end)
    return id, bound
end

function server.close(listener)
    if listeners[listener] then
        listeners[listener] = nil
        socket.close(listener)
    end
end

return server
