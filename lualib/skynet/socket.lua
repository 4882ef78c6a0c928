-- skynet.socket: TCP and UDP for Lua services (skynet's names and semantics; docs/lua-api.md).
--
-- A socket belongs to the service that opened, accepted-and-started or bound it: the socket
-- thread sends its events as PTYPE_SOCKET messages, which skynet.socket.events registers and
-- handles.
-- Bytes read wait in the socket's buffer (adopted messages, no copy) until a coroutine reads
-- them. A read that cannot be satisfied yet suspends its coroutine until enough bytes arrive or
-- the socket closes; one coroutine at a time may wait on a socket.
--
-- Yield (must run in a message coroutine): open, open_framed, read, readall, readline, block,
-- drain, lock (while another coroutine holds it), close (until the close has taken effect).
-- Nothing else yields (resolve blocks the service for its lookup). Thread: the owning service.
local skynet = require "skynet"
local core = require "skynet.core"
local driver = require "skynet.socketdriver"
local events = require "skynet.socket.events"

local assert, error, type, tonumber, format = assert, error, type, tonumber, string.format
local coroutine_running = coroutine.running
local wait = skynet.wait
local buffer_pop, buffer_readall, buffer_readline, buffer_size =
    driver.pop, driver.readall, driver.readline, driver.size

local socket = {}
-- The event handlers (skynet.socket.events) own these tables and update the objects in them.
local socket_pool = events.pool         -- id -> socket object (fields: see new_stream)
local socket_onclose = events.onclose   -- id -> function(id [, error text]), called once
local udp_peer = events.udp_peer        -- id -> the default peer set by udp_connect
local wakeup = events.wakeup

-- Waits until the socket's event handlers wake this coroutine; resumes a paused socket first.
-- (The checks on this path raise with error(..., 0) rather than assert: the same message without
-- a C call per read.)
local function suspend(s)
    if s.co then error("another coroutine is already waiting on this socket", 0) end
    local co = coroutine_running()
    s.co = co
    if s.pause then
        driver.start(s.id)
        wait(co)
        s.pause = nil
    else
        wait(co)
    end
    -- close() from another coroutine waits for the reader to finish with the buffer.
    if s.closing then skynet.wakeup(s.closing) end
end

----------------------------------------------------------------------------------------------
-- TCP

-- A stream socket object:
--   buffer         unread bytes          read_required  what the waiting reader needs: n
--   connected      open for reading      (bytes), sep (a line), true (the end), 0 (anything)
--   connecting     true, then the error text if the connect fails
--   co             the coroutine waiting  pause  true: paused for BUFFER_LIMIT; false: never resume
--   closing        the coroutine in close() waiting for a reader to finish
--   read_max       the waiting readline's maximum line length (nil: none)
--   skip_line      readline is dropping the rest of an over-long line, up to its separator
--   unsent_kb      KB queued for writing as the last warning event said (0 or nil: below the mark)
--   drain_co       the coroutine waiting in drain()
--   write_closed   closed or failed: nothing more can be written (eof alone leaves writing open)
local function new_stream(id, connected)
    local s2 = socket_pool[id]
    if s2 and not s2.listen then error(format("socket %d is already open here", id), 3) end
    local s = {
        id = id,
        buffer = driver.buffer(),
        connected = connected,
        connecting = not connected or nil,
        read_required = false,
        co = false,
        protocol = "TCP",
    }
    socket_pool[id] = s
    return s
end

local function split_address(addr, port)
    if port ~= nil then return addr, port end
    local host, p = string.match(addr, "^%[?([^%]]-)%]?:(%d+)$")
    if not host then error(format("bad address %q (host:port expected)", addr), 3) end
    return host, tonumber(p)
end

local function open(host, port, framer, on_frames, options, connect_ms)
    host, port = split_address(host, port)
    local id, err = driver.connect(host, port)
    if not id then return nil, err end
    local s = new_stream(id, false)
    if connect_ms then
        -- A host that drops SYNs would otherwise hold the caller for the kernel's whole connect
        -- timeout (minutes): closing the socket wakes it with this text.
        skynet.timeout((connect_ms + 9) // 10, function()
            if s.connecting == true and not s.connected and socket_pool[id] == s then
                s.connecting = format("connect %s:%d: no connection within %d ms", host, port,
                    connect_ms)
                driver.close(id)
            end
        end)
    end
    suspend(s)
    local failure = s.connecting
    s.connecting = nil
    if not s.connected then
        socket_pool[id] = nil
        return nil, type(failure) == "string" and failure
            or format("connect %s:%d: closed before connecting", host, port)
    end
    if framer then
        local ok, ferr = driver.set_framer(id, framer, options)
        if not ok then
            socket_pool[id] = nil
            driver.close(id)
            return nil, ferr
        end
        s.on_frames = on_frames
    end
    driver.start(id)
    return id
end

-- Connects to host, port (or "host:port"); yields until connected. -> id | nil, error text.
function socket.open(host, port)
    return open(host, port)
end

-- Like open, with the framer `name` installed before the first byte is read: the stream then
-- arrives as on_frames(ptr, size, count) calls (see socket.set_framer). connect_ms, when given,
-- bounds the wait for the connection.
function socket.open_framed(host, port, name, on_frames, options, connect_ms)
    assert(type(on_frames) == "function", "open_framed needs an on_frames callback")
    return open(host, port, name, on_frames, options, connect_ms)
end

-- Adopts an open fd (0: stdin) as a stream socket, reading at once. -> id | nil, err
function socket.bind(fd)
    local id, err = driver.bind(fd)
    if not id then return nil, err end
    new_stream(id, true)
    driver.start(id)
    return id
end

function socket.stdin()
    return socket.bind(0)
end

-- Listens on host:port (or "host:port"; port 0: the kernel picks). Raises on failure.
-- -> id, host, bound port. Accepting starts with socket.start(id, accept).
function socket.listen(host, port, backlog)
    host, port = split_address(host, port)
    local id, bound = driver.listen(host, port, backlog)
    if not id then error(bound, 2) end
    socket_pool[id] = { id = id, connected = false, listen = true, addr = host, port = bound }
    return id, host, bound
end

-- For a listener: accept(newid, addr) runs (in its own coroutine) for each connection, which is
-- paused until someone calls socket.start(newid). For a connection: starts reading, and this
-- service becomes its owner (so an accepted id can be handed to another service). -> id
function socket.start(id, accept)
    local s = socket_pool[id]
    if accept then
        assert(type(accept) == "function", "socket.start: accept must be a function")
        if not s then
            s = { id = id, connected = false, listen = true }
            socket_pool[id] = s
        end
        s.callback = accept
    else
        new_stream(id, true)
    end
    driver.start(id)
    return id
end

-- Stops reading until the next read on this socket resumes it.
function socket.pause(id)
    local s = socket_pool[id]
    if s == nil or s.pause then return end
    driver.pause(id)
    s.pause = true
end

-- Reads exactly sz bytes, or (sz nil) whatever is buffered, waiting for at least one byte.
-- -> string | false, the bytes left when the socket closed first.
function socket.read(id, sz)
    local s = socket_pool[id]
    if not s then error("socket.read: socket not open here", 0) end
    local buf = s.buffer
    if sz == nil then
        local ret = buffer_readall(buf)
        if ret ~= "" then return ret end
        if not s.connected then return false, ret end
        if s.read_required then error("another coroutine is reading this socket", 0) end
        s.read_required = 0
        suspend(s)
        ret = buffer_readall(buf)
        if ret ~= "" then return ret end
        return false, ret
    end
    local ret = buffer_pop(buf, sz)
    if ret then return ret end
    if s.closing or not s.connected then return false, buffer_readall(buf) end
    if s.read_required then error("another coroutine is reading this socket", 0) end
    s.read_required = sz
    suspend(s)
    ret = buffer_pop(buf, sz)
    if ret then return ret end
    return false, buffer_readall(buf)
end

-- Reads until the socket closes. -> everything read (false when closed and nothing was left).
function socket.readall(id)
    local s = assert(socket_pool[id], "socket.readall: socket not open here")
    if not s.connected then
        local r = buffer_readall(s.buffer)
        return r ~= "" and r
    end
    assert(not s.read_required, "another coroutine is reading this socket")
    s.read_required = true
    suspend(s)
    return buffer_readall(s.buffer)
end

local function too_long(max)
    return nil, format("line too long (over %d bytes)", max)
end

-- Reads up to sep (default "\n"), which is removed. -> line | false, the bytes left at close.
-- With max (bytes, not counting sep), a longer line is never buffered whole: readline answers
-- nil, "line too long (over <max> bytes)" once and drops that line up to its separator, so the
-- next call reads the line after it (a caller that stops at `not line` simply gives up).
function socket.readline(id, sep, max)
    sep = sep or "\n"
    local s = assert(socket_pool[id], "socket.readline: socket not open here")
    if max ~= nil then
        assert(math.type(max) == "integer" and max >= 0,
            "socket.readline: max must be a non-negative integer")
    end
    local buf = s.buffer
    while true do
        local ret = buffer_readline(buf, sep)
        if ret then
            if s.skip_line then
                s.skip_line = nil -- the end of an over-long line: dropped
            elseif max and #ret > max then
                return too_long(max)
            else
                return ret
            end
        elseif max and buffer_size(buf) >= max + #sep then
            -- No separator, and more than max bytes before the last #sep - 1 (which may start
            -- one): the line is too long. Those bytes go; the tail stays for the separator.
            buffer_pop(buf, buffer_size(buf) - (#sep - 1))
            if not s.skip_line then
                s.skip_line = true
                return too_long(max)
            end
        elseif not s.connected then
            local rest = buffer_readall(buf)
            if s.skip_line then rest = "" end -- the tail of an over-long line is no line
            s.skip_line = nil
            return false, rest
        else
            assert(not s.read_required, "another coroutine is reading this socket")
            s.read_required = sep
            s.read_max = max
            suspend(s)
            s.read_max = nil
        end
    end
end

-- Waits until bytes arrive or the socket closes. -> true while still open.
function socket.block(id)
    local s = socket_pool[id]
    if not s or not s.connected then return false end
    assert(not s.read_required, "another coroutine is reading this socket")
    s.read_required = 0
    suspend(s)
    return s.connected
end

-- Writes data (a string, a table of strings, or light userdata + size whose ownership moves).
-- -> false when the socket is already known to be closed. Never yields.
function socket.write(id, data, size)
    local peer = udp_peer[id]
    if peer then return driver.udp_send(id, peer, data, size) end
    return driver.send(id, data, size)
end

-- write at low priority: sent only when no normal write is waiting.
socket.lwrite = driver.lsend

-- Graceful close: queued bytes still go out. Waits until the close has taken effect (or, when
-- another coroutine is reading, until that reader has woken up with what was left).
function socket.close(id)
    local s = socket_pool[id]
    if s == nil then return end
    driver.close(id)
    if s.connected then
        s.pause = false -- must not be resumed by a reader
        if s.co then
            assert(not s.closing, "socket is already being closed")
            s.closing = coroutine_running()
            skynet.wait(s.closing)
        else
            suspend(s)
        end
        s.connected = false
    end
    socket_pool[id] = nil
    udp_peer[id] = nil
end

-- Closes an id this service never started (e.g. an accepted connection it refuses).
function socket.close_fd(id)
    assert(socket_pool[id] == nil, "socket.close_fd: use socket.close for an open socket")
    driver.close(id)
end

-- Immediate close: queued bytes are dropped; a reader wakes with false. Call close(id) after.
function socket.shutdown(id)
    if socket_pool[id] then driver.shutdown(id) end
end

-- Forgets the socket without closing it, so that another service can start it: reading is
-- paused, a waiting reader wakes with false. -> the bytes already buffered here. Returns once
-- the socket thread has paused it, so what the peer sends from then on waits in the kernel for
-- the new owner; bytes read before but not yet handled here are dropped (abandon an idle socket).
function socket.abandon(id)
    local s = socket_pool[id]
    if not s then return end
    driver.pause(id)
    driver.info(id)
    s.connected = false
    wakeup(s)
    socket_onclose[id] = nil
    socket_pool[id] = nil
    udp_peer[id] = nil
    return s.buffer and buffer_readall(s.buffer)
end

function socket.invalid(id)
    return socket_pool[id] == nil
end

function socket.disconnected(id)
    local s = socket_pool[id]
    if s then return not (s.connected or s.connecting) end
end

-- Closes the socket when more than `limit` bytes are buffered and nobody reads them.
function socket.limit(id, limit)
    local s = assert(socket_pool[id], "socket.limit: socket not open here")
    s.buffer_limit = limit
end

-- callback(id [, error text]) runs once when the socket closes or fails.
function socket.onclose(id, callback)
    socket_onclose[id] = callback
end

-- Waits while the socket's write queue is past its high-water mark: from a warning event until
-- the drained one (kb = 0), with reading paused meanwhile (the next read resumes it), so that a
-- peer that does not read stops being served. Returns at once below the mark.
-- -> true while the socket can still be written, false once it is closed or failed. Yields.
function socket.drain(id)
    local s = socket_pool[id]
    while s and not s.write_closed and (s.unsent_kb or 0) > 0 do
        assert(not s.drain_co, "another coroutine is already draining this socket")
        socket.pause(id)
        s.drain_co = coroutine_running()
        skynet.wait(s.drain_co)
        s = socket_pool[id]
    end
    return s ~= nil and not s.write_closed
end

-- callback(id, kb) replaces the default log line when the write queue grows (kb = 0: drained).
-- -> the previous callback. Raises for a socket not open here (as skynet does).
function socket.warning(id, callback)
    local s = assert(socket_pool[id], "socket.warning: socket not open here")
    local old = s.on_warning
    s.on_warning = callback
    return old
end

-- Sets this socket's write-queue high-water mark, in KB (1 to 4194304; default: the config's
-- socket_warning_kb): warning events come at it and at each doubling.
function socket.warning_mark(id, kb)
    driver.warning_mark(id, kb)
end

function socket.nodelay(id, on)
    driver.nodelay(id, on ~= false)
end

-- skyhive: socket.inline(true) lets this service's socket events (its own sockets, its Redis
-- connections) run on the socket thread while the service is idle, instead of being handed to a
-- worker: no wake-up, no second thread per message. For short handlers only: while one runs, no
-- other socket of the node is served. A handler that runs longer than 10 ms there turns it off
-- again, with a warning in the log. Returns the previous setting. Off by default, as in skynet.
function socket.inline(on)
    return core.inline_events(on ~= false)
end

-- The kernel's send and receive buffers of a TCP socket, in bytes (SO_SNDBUF, SO_RCVBUF).
function socket.buffers(id, bytes)
    driver.buffers(id, bytes)
end

-- Framed mode: from now on the framer `name` (registered in C++, e.g. "resp") cuts what is read,
-- and each batch arrives as on_frames(ptr, size, count): ptr/size hold the framer's encoding and
-- are valid until on_frames returns or yields. Bytes read before stay readable with read.
-- options: integer settings for the framer (e.g. {max_bulk = 1 << 20}). Raises on a bad name.
-- Returns once the socket thread has installed the framer, so whatever the peer sends in reply to
-- a later write is framed (open_framed avoids even that round trip).
function socket.set_framer(id, name, on_frames, options)
    local s = assert(socket_pool[id], "socket.set_framer: socket not open here")
    local ok, err = driver.set_framer(id, name, options)
    if not ok then error(err, 2) end
    s.on_frames = on_frames
    driver.info(id)
end

-- The length in a 1-4 byte big-endian header string.
function socket.header(s)
    local n = #s
    assert(n >= 1 and n <= 4, "socket.header: 1 to 4 bytes expected")
    return (string.unpack(">I" .. n, s))
end

-- UDP (udp, udp_listen, udp_dial, udp_connect, sendto, udp_address, udp_target): see
-- skynet.socket.udp.
require("skynet.socket.udp")(socket)

-- Serializes writers of one socket across coroutines (e.g. a reply written in several parts,
-- with yields between them): lock waits until every earlier lock(id) has been unlocked.
-- Raises for a socket not open here. Yields while another coroutine holds the lock.
function socket.lock(id)
    local s = assert(socket_pool[id], "socket.lock: socket not open here")
    local waiting = s.lock
    if not waiting then
        waiting = {}
        s.lock = waiting
    end
    if #waiting == 0 then
        waiting[1] = true -- held, nobody waiting
    else
        local co = coroutine_running()
        waiting[#waiting + 1] = co
        skynet.wait(co)
    end
end

-- Releases lock(id); the longest waiting coroutine gets it next.
function socket.unlock(id)
    local s = assert(socket_pool[id], "socket.unlock: socket not open here")
    local waiting = s.lock
    assert(waiting and #waiting > 0, "socket.unlock: socket is not locked")
    table.remove(waiting, 1)
    local co = waiting[1]
    if co then skynet.wakeup(co) end
end

-- resolve(host) -> { "ip", ... }: every address of host (getaddrinfo; blocks this service's
-- thread for the lookup, as in skynet). Raises "resolve <host>: <why>".
socket.resolve = driver.resolve

----------------------------------------------------------------------------------------------
-- Sockets driven by another library

-- route(id, handler): every later event of socket id goes to handler(type, id, ...) (the
-- PTYPE_SOCKET message as skynet.socketdriver's unpack gives it: type is a SocketEventType
-- number) instead of this module; route(id, nil) ends that. For libraries that open and drive
-- a socket through skynet.socketdriver themselves (skynet.db.redis does), so that they and
-- skynet.socket share the service's socket protocol. The id must not be open here (open, start,
-- bind, listen, udp). Never yields.
socket.route = events.route

-- Every socket of the node (see skynet.socketdriver info for the fields); netstat(id): one.
socket.netstat = driver.info

return socket
