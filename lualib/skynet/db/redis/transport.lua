-- The sockets of skynet.db.redis: TCP connections in framed mode ("resp" framer on the socket
-- thread), whose events go straight to their connection object.
--
-- Each socket is routed to this module with skynet.socket's route hook from its connect until
-- its last event, so skynet.socket and the Redis client share the service's socket protocol
-- without either knowing the other's sockets.
--
-- A handler is an object with on_frames(ptr, size, count) (ptr borrows the message: decode it
-- before returning, do not yield; count is the number of replies in it) and on_close(text) (the socket is gone: peer closed, read error,
-- malformed or oversized reply).
--
-- Thread: the owning service.
local skynet = require "skynet"
local driver = require "skynet.socketdriver"
local socket = require "skynet.socket"

local format = string.format
local wait, wakeup = skynet.wait, skynet.wakeup

local transport = {}

-- id -> handler for connected sockets, or a pending-connect record while connecting. An id whose
-- close we asked for stays as `false` until its last event, so that event is not passed on.
-- Every id in it is routed to on_event; forget() ends both.
local sockets = {}

local EV_CONNECTED, EV_CLOSED, EV_ERROR, EV_FRAMES = 2, 3, 5, 8

-- "connect 127.0.0.1:6379: Connection refused" -> "Connection refused": the client names the
-- server and the operation itself.
local function cause(text)
    return text:match("^%a+ [^%s]+:%d+: (.*)$") or text
end

-- The id is dead: no event follows.
local function forget(id)
    sockets[id] = nil
    socket.route(id, nil)
end

local function on_event(t, id, a, b, c)
    local h = sockets[id]
    if t == EV_FRAMES then
        -- Frames read before our close took effect are dropped with the socket.
        if h then return h:on_frames(b, c, a) end
    elseif t == EV_CONNECTED then
        if h and h.connecting then
            h.connecting = false
            h.ok = true
            wakeup(h)
        end
    elseif t == EV_CLOSED then
        if h == false then
            if a == "owner" then forget(id) end
            return
        end
        -- The server finished sending (eof): the id is still ours to close.
        sockets[id] = false
        driver.close(id)
        if h.connecting then
            h.connecting = false
            h.err = "connection closed by the server"
            wakeup(h)
        else
            h:on_close("closed by the server")
        end
    elseif t == EV_ERROR then
        forget(id)
        if h == false then return end
        if h.connecting then
            h.connecting = false
            h.err = cause(b)
            wakeup(h)
        else
            h:on_close(cause(b))
        end
    end
end

-- Connects to host:port, switches the socket to the RESP framer (limits: {max_bulk,
-- max_elements}, nil fields = defaults) and starts reading. Returns the socket id, or nil and
-- the cause ("Connection refused", "timed out after 5000 ms"). Yields.
function transport.open(host, port, handler, timeout_ms, limits)
    local id, err = driver.connect(host, port)
    if not id then return nil, cause(err) end
    local pending = { connecting = true }
    sockets[id] = pending
    socket.route(id, on_event)
    if timeout_ms then
        skynet.timeout((timeout_ms + 9) // 10, function()
            if pending.connecting then
                pending.connecting = false
                pending.err = format("timed out after %d ms", timeout_ms)
                sockets[id] = false
                driver.close(id)
                wakeup(pending)
            end
        end)
    end
    wait(pending)
    if not pending.ok then return nil, pending.err end
    local options
    if limits and (limits.max_bulk or limits.max_elements) then
        options = { max_bulk = limits.max_bulk, max_elements = limits.max_elements }
    end
    local set, ferr = driver.set_framer(id, "resp", options)
    if not set then
        sockets[id] = false
        driver.close(id)
        return nil, ferr
    end
    sockets[id] = handler
    driver.nodelay(id, true)
    driver.start(id)
    return id
end

-- transport.send(id, ptr, size): queues bytes (a light userdata from a codec buffer's take(),
-- ownership moves) for writing. The driver's own function: a Lua wrapper would cost a call per
-- write.
transport.send = driver.send

-- Closes the socket: what is queued still goes out. No event reaches the handler afterwards.
function transport.close(id)
    if sockets[id] then
        sockets[id] = false
        driver.close(id)
    end
end

return transport
