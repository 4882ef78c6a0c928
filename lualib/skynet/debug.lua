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
--   PROFILE ms [period] [lines] -> {samples = n, period = p, lines = bool, {where =
--                     "source:line", count = n}, ...}: where this service's Lua runs, sampled
--                     every `period` VM instructions (default 1000) for `ms` milliseconds, by
--                     function or, with lines true, by line (skynet.core.profile_start/stop);
--                     most sampled first. Raises while another profile runs.
--   RUN source name -> ok, output: runs the Lua chunk `source` (named `name` in errors) inside
--                     this service (the console's inject). Its globals are the service's, plus
--                     `skynet`; print goes to the output, and so do the chunk's return values.
--                     ok is false, with the error and a traceback in the output, if it raised.
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

function CMD.PROFILE(skynet, _, ms, period, lines)
    ms = math.tointeger(ms)
    if not ms or ms < 1 or ms > 3600000 then error("debug: PROFILE needs 1..3600000 ms", 0) end
    local core = require "skynet.core"
    core.profile_start(period, lines)
    skynet.sleep((ms + 9) // 10)
    return core.profile_stop()
end

function CMD.RUN(skynet, _, source, name)
    local output = {}
    local function print(...)
        local t = table.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]) end
        output[#output + 1] = table.concat(t, "\t", 1, t.n)
    end
    local env = setmetatable({ print = print, skynet = skynet }, { __index = _G, __newindex = _G })
    local chunk, err = load(source, "@" .. tostring(name), "t", env)
    if not chunk then return false, err end
    local r = table.pack(xpcall(chunk, debug.traceback))
    if r[1] then
        for i = 2, r.n do print(r[i]) end
    else
        print(r[2])
    end
    return r[1], table.concat(output, "\n")
end

-- Handles one debug request: answers with what the command returns.
function M.dispatch(skynet, info_func, cmd, ...)
    local f = CMD[cmd]
    if not f then error("debug: unknown command " .. tostring(cmd)) end
    skynet.retpack(f(skynet, info_func, ...))
end

return M
