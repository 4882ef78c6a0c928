-- Reads sharedata from a service of its own (for test_sharedata). Requests (lua):
--   GET name k1 ...  -> name[k1][...] (a plain copy when it is a table)
--   HOLD name k1 ... keeps the proxy name[k1][...]     HELD k -> held[k]
--   SUM name         -> the sum of v.price over pairs(name)
--   MEM              -> this service's Lua memory in bytes
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"

local held

local function walk(name, ...)
    local p = sharedata.query(name)
    for i = 1, select("#", ...) do p = p[(select(i, ...))] end
    return p
end

local CMD = {}
function CMD.GET(name, ...)
    local v = walk(name, ...)
    if type(v) == "table" then return sharedata.deepcopy(name, ...) end
    return v
end
function CMD.HOLD(name, ...) held = walk(name, ...) end
function CMD.HELD(k) return held[k] end
function CMD.SUM(name)
    local sum = 0
    for _, v in pairs(sharedata.query(name)) do sum = sum + v.price end
    return sum
end
function CMD.MEM()
    collectgarbage()
    return skynet.stat "memory"
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        skynet.retpack(CMD[cmd](...))
    end)
end)
