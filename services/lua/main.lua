-- The start script of the shipped configs (start = "main"): launches the services the config
-- names, each as "host:port" ("[::1]:8000" for IPv6; port 0 lets the kernel pick):
--   debug_console = "127.0.0.1:8000"   the debug console (debug_console.lua)
--   echo = "127.0.0.1:8001"            the echo service (echo.lua)
-- A node with an admin endpoint (`admin`) but no debug_console still gets a console, without a
-- listener, for the endpoint's /console requests. Then the script exits. A service that fails to start fails the start script, which stops the node.
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
    if skynet.getenv "admin" and not skynet.getenv "debug_console" then
        skynet.newservice("debug_console", "none")
    end
    skynet.exit()
end)
