-- skynet.socketchannel: requests and responses over one TCP connection, shared by many
-- coroutines, with reconnection (skynet's socketchannel; docs/lua-api.md).
--
-- Order mode (desc.response absent): channel:request(req, response) writes req and waits; the
-- responses are read in request order by one dispatch coroutine, each by the request's own
-- response(sock) function, which returns ok, data. Session mode (desc.response = function(sock)
-- returning session, ok, data): channel:request(req, session) waits for that session's answer,
-- in any order.
--
-- A request on a channel without a live connection connects first (one attempt over host and
-- backups); channel:connect() retries with backoff until it succeeds. desc.auth(channel) runs on
-- every new connection before other requests go out. When a connection is lost, the requests
-- in flight fail (they may or may not have been executed) and the next request reconnects.
--
-- A connection failure raises a channel error: an object equal (==) to socketchannel.error, as
-- skynet code tests it, whose tostring (and .. concatenation) reads "socket channel host:port:
-- <what>"; socketchannel.iserror tells it from other errors. An answer with ok == false raises
-- its data unchanged.
--
-- Yield: connect, request (unless it expects no response), response, close. connected does not.
local skynet = require "skynet"
local socket = require "skynet.socket"

local format, type, error, pcall, tostring = string.format, type, error, pcall, tostring
local coroutine_running = coroutine.running
local tremove = table.remove

local socketchannel = {}
local channel = {}
local channel_meta = { __index = channel }

local PREFIX = "socket channel "
-- Channel errors share one metatable: any two compare equal, so `err == socketchannel.error`
-- holds for every connection failure (skynet raises that very table), while each carries its
-- text. Raised inside response functions when the socket ends (the bare table), and by
-- requests (an object with the dispatcher's text).
local error_meta = {}
error_meta.__tostring = function(e) return e.text end
error_meta.__eq = function(a, b)
    return getmetatable(a) == error_meta and getmetatable(b) == error_meta
end
error_meta.__concat = function(a, b) return tostring(a) .. tostring(b) end
local socket_error = setmetatable({ text = "socket closed" }, error_meta)
socketchannel.error = socket_error

local function channel_error(text)
    return setmetatable({ text = text }, error_meta)
end

-- Whether err is a channel error (an object or, as older code made them, its text).
function socketchannel.iserror(err)
    if getmetatable(err) == error_meta then return true end
    return type(err) == "string" and err:sub(1, #PREFIX) == PREFIX
end

-- What response functions read from: sock:read(n), sock:readline(sep). Raise on a closed socket.
local channel_socket = {}
local channel_socket_meta = {
    __index = channel_socket,
    __tostring = function(self) return "channel socket " .. tostring(self[1]) end,
}

function channel_socket:read(sz)
    local ret = socket.read(self[1], sz)
    if ret then return ret end
    error(socket_error)
end

function channel_socket:readline(sep)
    local ret = socket.readline(self[1], sep)
    if ret then return ret end
    error(socket_error)
end

-- desc: host, port; optional response (session mode), auth, backup ({ {host=, port=} or
-- "host:port", ... }), nodelay, overload(bool), backoff_min / backoff_max (centiseconds between
-- connect attempts of connect(); default 10 and 500).
function socketchannel.channel(desc)
    assert(desc.host and desc.port, "socketchannel.channel needs host and port")
    return setmetatable({
        __host = desc.host,
        __port = desc.port,
        __backup = desc.backup,
        __auth = desc.auth,
        __response = desc.response,
        __nodelay = desc.nodelay,
        __overload_notify = desc.overload,
        __backoff_min = desc.backoff_min or 10,
        __backoff_max = desc.backoff_max or 500,
        __conn = nil,           -- the live connection (see new_conn)
        __connecting = {},      -- [1] = true while a coroutine connects; then the waiters
        __authcoroutine = false,
        __closed = false,
        __result = {},          -- co -> true | false | socket_error
        __result_data = {},     -- co -> data or error text
    }, channel_meta)
end

local function where(self)
    return format("%s%s:%s", PREFIX, tostring(self.__host), tostring(self.__port))
end

-- "connect 127.0.0.1:6379: Connection refused" -> "Connection refused" (we name the address).
local function cause(text)
    return tostring(text):match("^%a+ %[?[^%s]-%]?:%d+: (.*)$") or tostring(text)
end

local function finish(self, co, result, data)
    self.__result[co] = result
    self.__result_data[co] = data
    skynet.wakeup(co)
end

-- Stops using conn: fails what still waits on it, closes the socket, ends its dispatcher.
local function drop(self, conn, text)
    if self.__conn == conn then self.__conn = nil end
    if conn.dead then return end
    conn.dead = true
    conn.dead_text = text
    for i = 1, #conn.queue do finish(self, conn.queue[i][2], socket_error, text) end
    conn.queue = {}
    for session, co in pairs(conn.sessions) do
        conn.sessions[session] = nil
        finish(self, co, socket_error, text)
    end
    pcall(socket.close, conn.fd)
    if conn.waiting then skynet.wakeup(conn.waiting) end
end

-- Order mode: the next (response, co) to serve, or nil once the connection has ended and
-- nothing is left to read for.
local function pop_response(conn)
    while not conn.dead do
        local head = tremove(conn.queue, 1)
        if head then return head[1], head[2] end
        if conn.peer_closed then return end
        conn.waiting = coroutine_running()
        skynet.wait(conn.waiting)
        conn.waiting = nil
    end
end

-- Calls an order-mode response function; while it returns a third value true (padding: more
-- parts follow), calls it again and answers the parts as one table.
local function get_response(func, sock)
    local ok, data, more = func(sock)
    if not (ok and more) then return ok, data end
    local parts = { data }
    repeat
        ok, data, more = func(sock)
        if not ok then return ok, data end
        parts[#parts + 1] = data
    until not more
    return true, parts
end

local function dispatch_by_order(self, conn)
    while true do
        local func, co = pop_response(conn)
        if not func then break end
        local ok, result, data = pcall(get_response, func, conn.sock)
        if ok then
            finish(self, co, result, data)
        else
            local text = conn.dead_text or (result == socket_error
                and format("%s: %s", where(self), conn.close_text or "connection closed")
                or format("%s: %s", where(self), tostring(result)))
            finish(self, co, socket_error, text)
            drop(self, conn, text)
            return
        end
    end
    drop(self, conn, format("%s: %s", where(self), conn.close_text or "connection closed"))
end

local function dispatch_by_session(self, conn)
    local response = self.__response
    while not conn.dead do
        local ok, session, result, data, more = pcall(response, conn.sock)
        if not ok then
            local text = conn.dead_text or (session == socket_error
                and format("%s: %s", where(self), conn.close_text or "connection closed")
                or format("%s: %s", where(self), tostring(session)))
            drop(self, conn, text)
            return
        end
        if session == nil then
            -- As in skynet: an answer without a session leaves the stream out of step; the
            -- connection ends and everything waiting on it fails.
            drop(self, conn, format("%s: response gave no session", where(self)))
            return
        end
        local co = conn.sessions[session]
        local parts = conn.parts[session]
        if co and result and more then
            -- padding: one part of a multi-part answer; the last part (more false) ends it.
            if not parts then
                parts = {}
                conn.parts[session] = parts
            end
            parts[#parts + 1] = data
        elseif co then
            conn.sessions[session] = nil
            conn.parts[session] = nil
            if result and parts then
                parts[#parts + 1] = data
                data = parts
            end
            finish(self, co, result, data)
        else
            skynet.error(format("%s: answer for unknown session %s dropped", where(self),
                tostring(session)))
        end
    end
end

-- Host first, then the backups in turn (each address once).
local function targets_of(self)
    local targets, seen = {}, {}
    local function add(host, port)
        local key = tostring(host) .. ":" .. tostring(port)
        if seen[key] then return end
        seen[key] = true
        targets[#targets + 1] = { host, port }
    end
    add(self.__host, self.__port)
    for _, b in ipairs(self.__backup or {}) do
        if type(b) == "table" then
            add(b.host, b.port)
        else
            local h, p = tostring(b):match("^%[?([^%]]-)%]?:(%d+)$")
            add(h or b, tonumber(p) or self.__port)
        end
    end
    return targets
end

-- Connects to the first of targets[first..] that accepts. -> fd, its index | nil, error text
local function open_socket(self, targets, first)
    local errors = {}
    for i = first, #targets do
        local target = targets[i]
        local fd, err = socket.open(target[1], target[2])
        if fd then
            self.__host, self.__port = target[1], target[2]
            return fd, i
        end
        errors[#errors + 1] = format("%s:%s %s", tostring(target[1]), tostring(target[2]),
            cause(err))
    end
    if #targets == 1 then return nil, cause(errors[1]:match("^%S+ (.*)$")) end
    return nil, table.concat(errors, "; ")
end

local function new_conn(self, fd)
    local conn = { fd = fd, sock = setmetatable({ fd }, channel_socket_meta), queue = {},
        sessions = {}, parts = {} }
    if self.__nodelay then socket.nodelay(fd) end
    socket.onclose(fd, function(_, err)
        if conn.dead then return end -- our own close
        conn.close_text = err and ("connection lost: " .. cause(err)) or "connection closed by peer"
        conn.peer_closed = true
        if self.__conn == conn then self.__conn = nil end
        -- An idle order-mode dispatcher has nothing buffered to read: end it now.
        if conn.waiting and #conn.queue == 0 then drop(self, conn, where(self) .. ": " ..
            conn.close_text) end
    end)
    local notify = self.__overload_notify
    if notify then
        socket.warning(fd, function(_, kb)
            local over = kb > 0
            if over ~= (self.__overload or false) then
                self.__overload = over
                notify(over)
            end
        end)
    end
    return conn
end

-- One pass over host and backups: a target whose connect or auth fails gives way to the next.
local function connect_once(self, targets, first)
    if self.__closed then return false, where(self) .. ": channel closed" end
    targets = targets or targets_of(self)
    local fd, index = open_socket(self, targets, first or 1)
    if not fd then return false, format("%s: connect failed: %s", where(self), index) end
    local conn = new_conn(self, fd)
    self.__conn = conn
    skynet.fork(self.__response and dispatch_by_session or dispatch_by_order, self, conn)
    if not self.__auth then return true end
    self.__authcoroutine = coroutine_running()
    local ok, aerr = pcall(self.__auth, self)
    self.__authcoroutine = false
    if not ok then
        aerr = tostring(aerr)
        local text = format("%s: auth failed: %s", where(self), socketchannel.iserror(aerr)
            and aerr:sub(#where(self) + 3) or aerr)
        drop(self, conn, text)
        if index < #targets and not self.__closed then
            skynet.error(text .. ", trying the next backup")
            local ok, err = connect_once(self, targets, index + 1)
            if ok then return ok end
            -- Name every failure: this auth and what the later targets did.
            return false, text .. "; " .. err
        end
        return false, text
    end
    if self.__conn ~= conn then
        -- The connection ended during auth (or auth changed the host): start over.
        return connect_once(self)
    end
    return true
end

local function try_connect(self, once)
    local delay = 0
    while not self.__closed do
        local ok, err = connect_once(self)
        if ok then return end
        if once then return err end
        skynet.error(err .. format(", retrying in %d ms", delay * 10))
        skynet.sleep(delay)
        delay = delay == 0 and self.__backoff_min or math.min(delay * 2, self.__backoff_max)
    end
    return where(self) .. ": channel closed"
end

-- The connection to use now: nil when a new one is needed, false when the channel is closed.
local function check_connection(self)
    local conn = self.__conn
    if conn then
        if socket.disconnected(conn.fd) ~= false then
            self.__conn = nil
        else
            local authco = self.__authcoroutine
            if not authco or authco == coroutine_running() then return conn end
        end
    end
    if self.__closed then return false end
end

local function block_connect(self, once)
    local conn = check_connection(self)
    if conn then return conn end
    if conn == false then error(channel_error(where(self) .. ": channel closed"), 0) end
    local err
    if #self.__connecting > 0 then
        local co = coroutine_running()
        self.__connecting[#self.__connecting + 1] = co
        skynet.wait(co)
    else
        self.__connecting[1] = true
        err = try_connect(self, once)
        for i = 2, #self.__connecting do skynet.wakeup(self.__connecting[i]) end
        self.__connecting = {}
    end
    conn = check_connection(self)
    if conn then return conn end
    error(channel_error(err or (where(self) ..
        (self.__closed and ": channel closed" or ": not connected"))), 0)
end

-- Connects now (once: a single attempt over host and backups; else retries with backoff until
-- connected or closed). Raises the failure text. -> true
function channel:connect(once)
    self.__closed = false
    block_connect(self, once)
    return true
end

local function wait_for_response(self, co)
    skynet.wait(co)
    local result, data = self.__result[co], self.__result_data[co]
    self.__result[co], self.__result_data[co] = nil, nil
    if result == socket_error then error(channel_error(data), 0) end
    if not result then error(data, 0) end
    return data
end

-- Writes request (a string or a table of strings) and then the strings of padding (a multi-part
-- request), and returns the answer's data: order mode, response(sock) -> ok, data [, more]
-- reads it; session mode, `response` is the session number. A response that returns more =
-- true has more parts coming: the caller gets them all as one table. Without response, returns
-- after writing.
function channel:request(request, response, padding)
    local conn = block_connect(self, true)
    local fd = conn.fd
    -- With padding in session mode the request and its parts go out at low priority, in one
    -- queue so they stay contiguous (skynet's multi-part request): a large one does not hold up
    -- other callers. In order mode everything goes at normal priority, because a low-priority
    -- request overtaken by a later caller's would get that caller's answer.
    local write = (padding and self.__response) and socket.lwrite or socket.write
    local ok = write(fd, request)
    for _, part in ipairs(ok and padding or {}) do
        ok = write(fd, part)
        if not ok then break end
    end
    if not ok then
        local text = where(self) .. ": connection lost while writing"
        drop(self, conn, text)
        error(channel_error(text), 0)
    end
    if response == nil then return end
    local co = coroutine_running()
    if self.__response then
        assert(conn.sessions[response] == nil, "session already waiting")
        conn.sessions[response] = co
    else
        assert(type(response) == "function", "order mode needs a response function")
        conn.queue[#conn.queue + 1] = { response, co }
        if conn.waiting then skynet.wakeup(conn.waiting) end
    end
    return wait_for_response(self, co)
end

-- Waits for an answer that no request asked for (pub/sub pushes): in order mode response(sock)
-- reads it; in session mode `response` is the session awaited.
function channel:response(response)
    local conn = block_connect(self)
    local co = coroutine_running()
    if self.__response then
        conn.sessions[response] = co
    else
        conn.queue[#conn.queue + 1] = { response, co }
        if conn.waiting then skynet.wakeup(conn.waiting) end
    end
    return wait_for_response(self, co)
end

-- Whether the channel has a connection that has not been seen to end (does not connect).
function channel:connected()
    return check_connection(self) ~= nil and check_connection(self) ~= false
end

-- Closes the connection; requests in flight and coroutines waiting to connect fail.
function channel:close()
    if self.__closed then return end
    self.__closed = true
    local conn = self.__conn
    if conn then drop(self, conn, where(self) .. ": channel closed") end
end

-- Moves the channel to another server: the current connection is dropped, the next request
-- connects there.
function channel:changehost(host, port)
    local conn = self.__conn
    local text = where(self) .. ": host changed"
    self.__host = host
    if port then self.__port = port end
    if conn then drop(self, conn, text) end
end

function channel:changebackup(backup)
    self.__backup = backup
end

return socketchannel
