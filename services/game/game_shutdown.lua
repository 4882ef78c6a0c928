-- The node's shutdown hook for the game: at SIGINT/SIGTERM the binary sends the text "shutdown"
-- to the service named ".shutdown" and waits while that service stops the node itself
-- (skynet.abort). game.lua takes the name at start; the world takes it over when game.lua is gone.
--
-- Thread: the calling service.
local skynet = require "skynet"

local M = {}

-- Makes the calling service ".shutdown": the first "shutdown" text it receives runs stop() in a
-- coroutine of its own (later ones are ignored). Raises when the name belongs to another live
-- service.
function M.take(stop)
    assert(type(stop) == "function", "game_shutdown.take needs a stop function")
    local started = false
    skynet.register_protocol {
        name = "text",
        id = skynet.PTYPE_TEXT,
        unpack = skynet.tostring,
        dispatch = function(_, _, msg)
            if msg == "shutdown" and not started then
                started = true
                skynet.fork(stop)
            end
        end,
    }
    skynet.register ".shutdown"
end

return M
