-- A service for test_socket: takes over a connection accepted elsewhere and answers each line
-- with "agent got: <line>".
--   start id   -> starts reading id here (this service becomes its owner)
--   closed     -> waits until the connection has closed, then answers true
--   quit       -> answers true, then the service exits (its sockets still open)
local skynet = require "skynet"
local socket = require "skynet.socket"

local closed = false
local waiting

local CMD = {}

function CMD.start(id)
    socket.start(id)
    skynet.fork(function()
        while true do
            local line = socket.readline(id)
            if not line then break end
            socket.write(id, "agent got: " .. line .. "\n")
        end
        socket.close(id)
        closed = true
        if waiting then skynet.wakeup(waiting) end
    end)
    return true
end

function CMD.closed()
    if not closed then
        waiting = coroutine.running()
        skynet.wait(waiting)
    end
    return closed
end

function CMD.quit()
    skynet.fork(skynet.exit)
    return true
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        skynet.retpack(CMD[cmd](...))
    end)
end)
