-- http.sockethelper: socket functions in the shape httpd and httpc use (skynet's names).
--
--   sockethelper.readfunc(fd [, pre]) -> read(sz)   read(n): exactly n bytes; read(): whatever
--                                                   has arrived (at least one byte); pre: bytes
--                                                   already read, returned first
--   sockethelper.writefunc(fd) -> write(data)
--   sockethelper.connect(host, port [, timeout]) -> fd   timeout in centiseconds
--   sockethelper.close(fd), sockethelper.shutdown(fd), sockethelper.readall(fd)
--   sockethelper.socket_error                       what read, write and connect raise when the
--                                                   socket is closed or cannot be opened
--
-- socket_error is one value, so that callers can compare (err == sockethelper.socket_error);
-- tostring(socket_error) says what failed last: "[Socket Error] read failed: socket 5 closed",
-- "[Socket Error] connect 127.0.0.1:1: Connection refused", "[Socket Error] connect
-- 10.0.0.1:80: timed out after 100 cs".
--
-- Thread: the service owning the socket; read, connect and close yield.
local skynet = require "skynet"
local socket = require "skynet.socket"

local error, tostring, format = error, tostring, string.format
local readbytes, writebytes = socket.read, socket.write

local sockethelper = {}

local last_error -- what the last socket_error raised was about
local socket_error = setmetatable({}, {
    __tostring = function() return "[Socket Error] " .. tostring(last_error) end,
})
sockethelper.socket_error = socket_error

local function raise(text)
    last_error = text
    error(socket_error)
end

function sockethelper.error_info(text)
    last_error = text
end

function sockethelper.readfunc(fd, pre)
    return function(sz)
        if pre then
            local p = pre
            if sz == nil or sz == #p then
                pre = nil
                return p
            elseif sz < #p then
                pre = p:sub(sz + 1)
                return p:sub(1, sz)
            end
            pre = nil
            local rest = readbytes(fd, sz - #p)
            if not rest then raise(format("read failed: socket %d closed", fd)) end
            return p .. rest
        end
        local ret = readbytes(fd, sz)
        if not ret then raise(format("read failed: socket %d closed", fd)) end
        return ret
    end
end

sockethelper.readall = socket.readall

function sockethelper.writefunc(fd)
    return function(content)
        if not writebytes(fd, content) then raise(format("write failed: socket %d closed", fd)) end
    end
end

-- Connects, yielding; raises socket_error (naming host:port and why) on failure or when
-- `timeout` centiseconds pass first (the late connection is closed when it comes).
function sockethelper.connect(host, port, timeout)
    if not timeout then
        local fd, err = socket.open(host, port)
        if not fd then raise(err) end
        return fd
    end
    local co = coroutine.running()
    local fd, err, done, late
    skynet.fork(function()
        fd, err = socket.open(host, port)
        if late then
            if fd then socket.close(fd) end
        else
            done = true
            skynet.wakeup(co)
        end
    end)
    skynet.timeout(timeout, function()
        if not done then
            late = true
            skynet.wakeup(co)
        end
    end)
    skynet.wait(co)
    if late then raise(format("connect %s:%s: timed out after %d cs", host, port, timeout)) end
    if not fd then raise(err) end
    return fd
end

function sockethelper.close(fd)
    socket.close(fd)
end

function sockethelper.shutdown(fd)
    socket.shutdown(fd)
end

return sockethelper
