-- The echo service: each line a client sends comes back, byte for byte (a telnet client's CRLF
-- included); a line over 64 KB is dropped and answered with "line too long (over 65536 bytes)".
-- Args: [host [port]], default 127.0.0.1 8001; port 0 lets the kernel pick. Logs "echo:
-- listening on host:port" and answers the lua request "address" with host, port.
local skynet = require "skynet"
local socket = require "skynet.socket"

local host, port = ...
host = host or "127.0.0.1"
port = math.tointeger(tonumber(port or 8001))
assert(port and port >= 0 and port <= 65535, "echo: bad port " .. tostring((select(2, ...))))

local MAX_LINE = 64 * 1024 -- a longer line is answered with an error line and dropped

local function serve(id)
    socket.start(id)
    while true do
        local line, err = socket.readline(id, "\n", MAX_LINE)
        if line == nil then
            line = err
        elseif not line then
            break
        end
        if not socket.write(id, line .. "\n") then break end
    end
    socket.close(id)
end

skynet.start(function()
    local listener, _, bound = socket.listen(host, port)
    skynet.error(string.format("echo: listening on %s:%d", host, bound))
    socket.start(listener, serve)
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd ~= "address" then error("echo: unknown command " .. tostring(cmd)) end
        skynet.retpack(host, bound)
    end)
end)
