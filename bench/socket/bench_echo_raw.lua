-- The Lua side of lua_echo_bench: an echo server written with skynet.socket, each connection in
-- its own coroutine writing back whatever read() returns. Publishes its port as the env key
-- bench_echo_port.
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.start(function()
    local listener, _, port = socket.listen("127.0.0.1", 0, 1024)
    socket.start(listener, function(id)
        socket.start(id)
        while true do
            local data = socket.read(id)
            if not data then break end
            socket.write(id, data)
        end
        socket.close(id)
    end)
    skynet.setenv("bench_echo_port", port)
end)
