-- skynet.debug: the "debug" protocol (PTYPE_DEBUG) that every Lua service answers, for the debug
-- console and other tools. skynet.lua calls init(skynet) once per service. Requests (packed with
-- skynet.pack):
--   MEM            -> Lua memory in KB (collectgarbage "count")
--   GC             -> Lua memory in KB after a full collection
--   STAT           -> {task = waiting coroutines, mqlen, cpu (s), message (count)}
--   TASK           -> {[session] = traceback} of the coroutines waiting for a session
--   INFO ...       -> what the function set with skynet.info_func returns (nil when none)
--   PING           -> "PONG"
--   SUPPORT pname  -> whether the service has a dispatch function for protocol pname
--   EXIT           -> the service exits (send it; a call gets the exit's error reply)
local M = {}

function M.init(skynet)
    local info_func

    -- f(...) answers the debug INFO request (e.g. the debug console's `info address ...`).
    function skynet.info_func(f)
        info_func = f
    end

    local CMD = {}

    function CMD.MEM()
        return collectgarbage "count"
    end

    function CMD.GC()
        collectgarbage "collect"
        return collectgarbage "count"
    end

    function CMD.STAT()
        return {
            task = skynet.task(),
            mqlen = skynet.stat "mqlen",
            cpu = skynet.stat "cpu",
            message = skynet.stat "message",
        }
    end

    function CMD.TASK()
        local t = {}
        skynet.task(t)
        return t
    end

    function CMD.INFO(...)
        if info_func then return info_func(...) end
    end

    function CMD.PING()
        return "PONG"
    end

    function CMD.SUPPORT(pname)
        local ok, f = pcall(skynet.dispatch, pname)
        return ok and f ~= nil
    end

    function CMD.EXIT()
        skynet.exit()
    end

    skynet.register_protocol {
        name = "debug",
        id = skynet.PTYPE_DEBUG,
        pack = skynet.pack,
        unpack = skynet.unpack,
        dispatch = function(_, _, cmd, ...)
            local f = CMD[cmd]
            if not f then error("debug: unknown command " .. tostring(cmd)) end
            skynet.retpack(f(...))
        end,
    }
end

return M
