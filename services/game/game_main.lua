-- The start script of the game configs (start = "game_main"): runs the shared start script
-- (services/lua/main.lua: the debug console, echo) and then, when the config says
--   game = "127.0.0.1:8001"
-- the game on that address (services/game/game.lua); game = false turns it off. A failure
-- stops the node.
local skynet = require "skynet"

skynet.start(function()
    skynet.newservice "main"
    local value = skynet.getenv "game"
    if value and value ~= "false" and value ~= "" then
        local host, port = value:match("^%[?([^%]]-)%]?:(%d+)$")
        if not host then error(string.format("config game = %q: host:port expected", value)) end
        skynet.newservice("game", host, port)
    end
    skynet.exit()
end)
