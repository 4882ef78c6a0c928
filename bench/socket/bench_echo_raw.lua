-- The Lua side of lua_echo_bench: an echo server written with skynet.socket, each connection in
-- its own coroutine writing back whatever read() returns. Publishes its port as the env key
-- bench_echo_port; started with the argument "inline", it handles its socket events on the socket
-- thread (socket.inline) and publishes bench_echo_inline_port. The plain one starts the inline one.
local skynet = require "skynet"
local socket = require "skynet.socket"

local mode = ...

skynet.start(function()
    if mode == "inline" then socket.inline(true) end
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
    if mode == "inline" then
        skynet.setenv("bench_echo_inline_port", port)
    else
        skynet.newservice(SERVICE_NAME, "inline")
        skynet.setenv("bench_echo_port", port)
    end
end)
