-- The bootstrap of gate_bench's Lua figures: a C++ gate whose connections are forwarded to one
-- Lua agent (bench_gate_agent.lua), and beside it the Lua echo that reads its own sockets
-- (bench/socket/bench_echo_raw.lua). This service is the gate's watchdog. Publishes the gate's
-- port as the env key bench_gate_port (the echo publishes bench_echo_port).
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
    skynet.newservice("bench_echo_raw")
    local agent = skynet.newservice("bench_gate_agent")
    local gate = skynet.launch("gate")
    skynet.dispatch("lua", function(_, _, cmd, what, fd)
        if cmd == "socket" and what == "open" then
            skynet.send(gate, "lua", "forward", fd, 0, agent)
        end
    end)
    local port = skynet.call(gate, "lua", "open",
        { address = "127.0.0.1", port = 0, maxclient = 4096, nodelay = true })
    skynet.setenv("bench_gate_port", port)
end)
