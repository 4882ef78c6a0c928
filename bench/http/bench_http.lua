-- The Lua side of http_bench: http.server answering every request with a fixed 64-byte body.
-- Publishes its port as the env key bench_http_port.
local skynet = require "skynet"
local server = require "http.server"

local BODY = string.rep("x", 63) .. "\n"

skynet.start(function()
    local _, port = server.listen("127.0.0.1", 0, function()
        return 200, BODY
    end, { max_connections = 1024 })
    skynet.setenv("bench_http_port", port)
end)
