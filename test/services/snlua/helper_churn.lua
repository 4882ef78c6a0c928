-- A service whose live set grows under load and then shrinks, as the game's world does in a
-- storm of requests and after it (for test_gc.lua):
--   keep n         -> adds n records to a window of the last `window` records (older ones drop);
--                     a record outlives many messages, as a request waiting on Redis does
--   drop           -> forgets the window
--   churn kb       -> allocates about kb KB of garbage that dies at once
--   memory         -> Lua bytes in use now
--   live           -> Lua bytes in use after a full collection
--   mode           -> the collector running: "generational" or "incremental"
local skynet = require "skynet"

local window, size, next_slot = {}, 20000, 1

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, n)
        if cmd == "keep" then
            for _ = 1, n do
                window[next_slot] = { id = next_slot, name = "player" .. next_slot, gold = 100 }
                next_slot = next_slot % size + 1
            end
            skynet.retpack(true)
        elseif cmd == "drop" then
            window = {}
            skynet.retpack(true)
        elseif cmd == "churn" then
            local sink
            for i = 1, n do sink = { string.rep("x", 1000), i } end
            skynet.retpack(sink ~= nil)
        elseif cmd == "memory" then
            skynet.retpack(skynet.stat "memory")
        elseif cmd == "mode" then
            local mode = collectgarbage "incremental"  -- returns the mode it replaced
            if mode == "generational" then collectgarbage "generational" end
            skynet.retpack(mode)
        elseif cmd == "live" then
            collectgarbage()
            skynet.retpack(skynet.stat "memory")
        end
    end)
end)
