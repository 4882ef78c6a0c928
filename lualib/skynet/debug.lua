-- skynet.debug: the "debug" protocol (PTYPE_DEBUG) that every Lua service answers, for the debug
-- console and other tools. skynet.lua registers the protocol and loads this module on the first
-- debug request. Requests (packed with skynet.pack):
--   MEM            -> Lua memory in KB (collectgarbage "count")
--   GC             -> Lua memory in KB after a full collection
--   STAT           -> {task = waiting coroutines, mqlen, cpu (s), message (count)}
--   TASK           -> {[session] = traceback} of the coroutines waiting for a session
--   INFO ...       -> what the function set with skynet.info_func returns (nil when none)
--   PING           -> "PONG"
--   SUPPORT pname  -> whether the service has a dispatch function for protocol pname
--   EXIT           -> the service exits (send it; a call gets the exit's error reply)
local M = {}

local CMD = {}

function CMD.MEM()
    return collectgarbage "count"
end

function CMD.GC()
    collectgarbage "collect"
    return collectgarbage "count"
end

function CMD.STAT(skynet)
    return {
        task = skynet.task(),
        mqlen = skynet.stat "mqlen",
        cpu = skynet.stat "cpu",
        message = skynet.stat "message",
    }
end

function CMD.TASK(skynet)
    local t = {}
    skynet.task(t)
    return t
end

function CMD.INFO(_, info_func, ...)
    if info_func then return info_func(...) end
end

function CMD.PING()
    return "PONG"
end

function CMD.SUPPORT(skynet, _, pname)
    local ok, f = pcall(skynet.dispatch, pname)
    return ok and f ~= nil
end

function CMD.EXIT(skynet)
    skynet.exit()
end

-- Handles one debug request: answers with what the command returns.
function M.dispatch(skynet, info_func, cmd, ...)
    local f = CMD[cmd]
    if not f then error("debug: unknown command " .. tostring(cmd)) end
    skynet.retpack(f(skynet, info_func, ...))
end

return M
