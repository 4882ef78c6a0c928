-- A service with a 4 MB Lua memory limit (set in its main chunk, as skynet services do).
--   alloc n   -> builds and keeps a string of n bytes, returns its length
--   free      -> drops what alloc kept and collects
--   limit     -> the limit memlimit reports, and the memory in use
local skynet = require "skynet"

local previous = skynet.memlimit(4 * 1024 * 1024)
assert(previous == 0, "no limit before the first memlimit")
local kept

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, n)
        if cmd == "alloc" then
            kept = string.rep("x", n)
            skynet.retpack(#kept)
        elseif cmd == "free" then
            kept = nil
            collectgarbage()
            skynet.retpack(true)
        elseif cmd == "limit" then
            skynet.retpack(skynet.memlimit(4 * 1024 * 1024), skynet.stat "memory")
        end
    end)
end)
