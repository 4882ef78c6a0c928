-- An agent for test_gate, as a skynet agent is written: it asks the gate to forward its
-- connection here (client 7), receives each packet as a "client" message (session: the fd) and
-- answers it on the socket with a 2-byte length header: "<fd> <source> <packet>".
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.register_protocol {
    name = "client",
    id = skynet.PTYPE_CLIENT,
    unpack = skynet.tostring,
}

local CMD = {}

function CMD.start(conf)
    skynet.call(conf.gate, "lua", "forward", conf.client, 7)
    return true
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        skynet.ret(skynet.pack(CMD[cmd](...)))
    end)
    skynet.dispatch("client", function(fd, source, msg)
        skynet.ignoreret() -- as in skynet: the session is the fd, not a request to answer
        socket.write(fd, string.pack(">s2", fd .. " " .. source .. " " .. msg))
    end)
end)
