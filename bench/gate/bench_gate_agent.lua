-- The Lua agent of gate_bench: one service for every connection the gate forwards here; answers
-- each packet with the same packet (2-byte length header and bytes).
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.register_protocol {
    name = "client",
    id = skynet.PTYPE_CLIENT,
    unpack = skynet.tostring,
}

skynet.start(function()
    skynet.dispatch("client", function(fd, _, msg)
        skynet.ignoreret() -- the session is the fd
        socket.write(fd, string.pack(">s2", msg))
    end)
end)
