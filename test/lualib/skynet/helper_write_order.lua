-- A service for test_socket_write_order. Answers "lua" messages:
--   write(id, text)      writes text to socket id (no answer: sent, not called)
--   write_exit(id, text) writes text to socket id, then exits in the same message
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, id, text)
        socket.write(id, text)
        if cmd == "write_exit" then skynet.exit() end
    end)
end)
