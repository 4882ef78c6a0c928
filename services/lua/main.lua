-- The start script of the shipped configs (start = "main"): launches the services the config
-- names, each as "host:port" ("[::1]:8000" for IPv6; port 0 lets the kernel pick):
--   debug_console = "127.0.0.1:8000"   the debug console (debug_console.lua)
--   echo = "127.0.0.1:8001"            the echo service (echo.lua)
-- then exits. A service that fails to start fails the start script, which stops the node.
local skynet = require "skynet"

local function address(key)
    local value = skynet.getenv(key)
    if not value then return end
    local host, port = value:match("^%[?([^%]]-)%]?:(%d+)$")
    if not host then error(string.format("config %s = %q: host:port expected", key, value)) end
    return host, port
end

skynet.start(function()
    for _, name in ipairs { "debug_console", "echo" } do
        local host, port = address(name)
        if host then skynet.newservice(name, host, port) end
    end
    skynet.exit()
end)
