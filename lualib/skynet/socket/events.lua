-- The event half of skynet.socket: the service's PTYPE_SOCKET protocol, the sockets it knows,
-- and what each socket event does to them. skynet.socket (the API coroutines call) is built on
-- this module's tables; nothing else should need it.
--
-- Every event of a socket goes to one place: the handler a library routed the id to with
-- events.route (skynet.db.redis's transport does), else the socket objects below.
--
-- Thread: the owning service. Nothing here yields.
local skynet = require "skynet"
local c = require "skynet.core"
local driver = require "skynet.socketdriver"

local error, type, format = error, type, string.format
local buffer_push, buffer_readline = driver.push, driver.readline
local take, skynet_wakeup = c.take, skynet.wakeup

local events = {}

-- Unread bytes past this pause reading (TCP then throttles the peer) until the next read.
events.BUFFER_LIMIT = 128 * 1024
local BUFFER_LIMIT = events.BUFFER_LIMIT

local pool = {}      -- id -> socket object (skynet.socket's new_stream describes the fields)
local onclose = {}   -- id -> function(id [, error text]), called once
local routes = {}    -- id -> function(type, id, ...) that takes every event of the socket
events.pool = pool
events.onclose = onclose
events.udp_peer = {} -- id -> compact address set by udp_connect: write() sends there

-- When the service ends (exit or kill closes its Lua state, which runs this finalizer), every
-- socket it still has is closed gracefully (queued bytes are written first), unless another
-- service has started it since. Without this an idle socket of a dead service stayed open until
-- its next event. pool is an upvalue of this module's functions, so it lives as long as the
-- state.
setmetatable(pool, { __gc = function(p)
    for id in pairs(p) do pcall(driver.close, id, true) end
end })

-- Wakes the coroutine waiting to read s, if any.
function events.wakeup(s)
    local co = s.co
    if co then
        s.co = nil
        skynet_wakeup(co)
    end
end
local wakeup = events.wakeup

-- Wakes the coroutine waiting in drain(), if any.
local function wakeup_drain(s)
    local co = s.drain_co
    if co then
        s.drain_co = nil
        skynet.wakeup(co)
    end
end

local function pause_socket(s, size)
    if s.pause ~= nil then return end
    c.error(format("socket %d paused: %d bytes unread", s.id, size), "debug")
    driver.pause(s.id)
    s.pause = true
end

local function call_onclose(id, err)
    local cb = onclose[id]
    if cb then
        onclose[id] = nil
        cb(id, err)
    end
end

-- Sends every later event of socket id to handler(type, id, ...) (the message as
-- skynet.socketdriver's unpack gives it); handler nil ends that. The id must not be open as a
-- socket object here.
function events.route(id, handler)
    if handler ~= nil and type(handler) ~= "function" then
        error(format("socket.route: the handler of socket %d must be a function", id), 2)
    end
    if handler and pool[id] then
        error(format("socket.route: socket %d is open here through skynet.socket", id), 2)
    end
    routes[id] = handler
end

----------------------------------------------------------------------------------------------
-- Events, by SocketEventType (net/socket_event.h)

local on = {}

-- data: the message itself becomes part of the buffer.
on[1] = function(id, size)
    local s = pool[id]
    local buf = s and s.buffer
    if not buf then
        c.error(format("socket: %d bytes for socket %d dropped (not open here)", size, id), "debug")
        return
    end
    local sz = buffer_push(buf, take())
    local rr = s.read_required
    if rr == 0 then
        -- read() or block(): any byte will do (the usual case, checked first; wakeup inlined).
        s.read_required = nil
        if sz > BUFFER_LIMIT then pause_socket(s, sz) end
        local co = s.co
        if co then
            s.co = nil
            skynet_wakeup(co)
        end
        return
    end
    local rrt = type(rr)
    if rrt == "number" then
        if sz >= rr then
            s.read_required = nil
            if sz > BUFFER_LIMIT then pause_socket(s, sz) end
            wakeup(s)
        end
        return
    end
    if s.buffer_limit and sz > s.buffer_limit then
        skynet.error(format("socket %d: buffer overflow (%d bytes > limit %d), closing", id, sz,
            s.buffer_limit))
        driver.close(id)
        return
    end
    if rrt == "string" then
        -- A bounded readline also wakes for a line that has grown past its maximum.
        if buffer_readline(s.buffer, rr, true) or (s.read_max and sz > s.read_max) then
            s.read_required = nil
            if sz > BUFFER_LIMIT then pause_socket(s, sz) end
            wakeup(s)
        end
    elseif rr ~= true and sz > BUFFER_LIMIT then
        -- Nobody is reading (readall waits for the end, so it must not stop the stream).
        pause_socket(s, sz)
    end
end

-- connected: an outgoing connect succeeded (the socket waits for start).
on[2] = function(id, _, addr)
    local s = pool[id]
    if s == nil then
        driver.close(id)
        return
    end
    if s.connecting then
        s.connected = true
        s.addr = addr
        wakeup(s)
    end
end

-- closed: "eof" (the peer finished; the id stays ours until close) or "owner" (close/shutdown
-- took effect; the id is dead).
on[3] = function(id, reason)
    local s = pool[id]
    if s then
        s.connected = false
        if reason ~= "eof" then s.write_closed = true end
        wakeup(s)
        wakeup_drain(s)
    elseif reason == "eof" then
        driver.close(id)
    end
    call_onclose(id)
end

-- accepted: listener id, the new connection's id (paused until someone starts it), peer address.
on[4] = function(id, newid, addr)
    local s = pool[id]
    if s == nil or not s.callback then
        driver.close(newid)
        return
    end
    s.callback(newid, addr)
end

-- error: the socket failed and is gone.
on[5] = function(id, op, text)
    local s = pool[id]
    if s == nil then
        c.error(format("socket: error on socket %d (not open here): %s", id, text), "warn")
        return
    end
    if s.listen then
        skynet.error(format("socket: listener %d failed: %s", id, text))
        pool[id] = nil
    elseif s.connecting and not s.connected then
        s.connecting = text
    elseif s.connected then
        skynet.error(format("socket: %s error on socket %d: %s", op, id, text))
    end
    s.connected = false
    s.write_closed = true
    s.error = text
    wakeup(s)
    wakeup_drain(s)
    call_onclose(id, text)
end

-- udp: a datagram and its sender.
on[6] = function(id, data, from)
    local s = pool[id]
    if s == nil or s.callback == nil then
        c.error(format("socket: datagram for socket %d dropped (no callback)", id), "debug")
        return
    end
    local peer = events.udp_peer[id]
    if peer and peer ~= from then return end -- a connected UDP socket hears only its peer
    s.callback(data, from)
end

local function default_warning(id, kb)
    if kb > 0 then skynet.error(format("socket %d: %d KB waiting to be sent", id, kb)) end
end

-- warning: KB queued for writing (0: drained again).
on[7] = function(id, kb)
    local s = pool[id]
    if s then
        s.unsent_kb = kb
        if kb == 0 then wakeup_drain(s) end
        (s.on_warning or default_warning)(id, kb)
    end
end

-- frames: framed mode; ptr is valid until the callback returns or yields.
on[8] = function(id, count, ptr, size)
    local s = pool[id]
    if s and s.on_frames then
        s.on_frames(ptr, size, count)
    else
        c.error(format("socket: %d frames for socket %d dropped (no callback)", count, id), "warn")
    end
end

skynet.register_protocol {
    name = "socket",
    id = skynet.PTYPE_SOCKET,
    unpack = driver.unpack,
    -- Fixed parameters rather than `...`: unpack gives at most three values after the id.
    dispatch = function(_, _, t, id, v1, v2, v3)
        local route = routes[id]
        if route then return route(t, id, v1, v2, v3) end
        return on[t](id, v1, v2, v3)
    end,
}

return events
