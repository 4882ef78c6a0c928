-- A service for test_socket_inline: an echo server that opts in to socket.inline. A line "slow"
-- is answered after 30 ms of busy work on the socket thread (past Scheduler::kGuestOverrunMs);
-- a line "netstat" with "netstat <id> <read>": what socket.netstat says of this connection,
-- asked from the handler (on the socket thread when it runs inline), or "netstat none".
-- Answers "lua" requests:
--   port     -> the port it listens on
--   inline   -> skynet.stat("inline"), and whether socket.inline is still on
local skynet = require "skynet"
local socket = require "skynet.socket"

local port

local function serve(id)
    socket.start(id)
    while true do
        local line = socket.readline(id)
        if not line then break end
        if line == "slow" then
            local start = skynet.hpc()
            while skynet.hpc() - start < 30 * 1000000 do end
        end
        if line == "netstat" then
            local info = socket.netstat(id)
            line = info and string.format("netstat %d %d", info.id, info.read) or "netstat none"
        end
        socket.write(id, line .. "\n")
    end
    socket.close(id)
end

skynet.start(function()
    assert(socket.inline(true) == false, "socket.inline: off until asked")
    local listener, _, p = socket.listen("127.0.0.1", 0)
    port = p
    socket.start(listener, serve)
    skynet.dispatch("lua", function(_, _, what)
        if what == "port" then return skynet.retpack(port) end
        -- Reading the setting means setting it: put back what was there.
        local on = socket.inline(false)
        socket.inline(on)
        skynet.retpack(skynet.stat("inline"), on)
    end)
end)
