-- skynet.queue: a critical section shared by the coroutines of one service.
--
--   local queue = require "skynet.queue"
--   local cs = queue()          -- also skynet.queue() once this module is loaded
--   cs(f, ...)                  -- runs f(...) while no other coroutine of this service is inside cs
--
-- cs(f, ...) [yields while another coroutine holds the section] returns what f returns. The
-- coroutines that wait get the section one at a time, in the order they asked for it. A coroutine
-- already inside may enter again (f calls cs(g)) without waiting for itself. When f raises, the
-- section is released first and the error is raised again from cs, carrying f's traceback (as
-- skynet does). Only the coroutines of the service that made cs may use it.
local skynet = require "skynet"

local running = coroutine.running
local xpcall, traceback = xpcall, debug.traceback
local pack, unpack = table.pack, table.unpack
local error = error

local function new_queue()
    local owner      -- the coroutine inside the section, or nil
    local depth = 0  -- how many times owner entered and has not left
    local waiting = {}
    local head, tail = 1, 0  -- waiting[head..tail], first come first served

    local function leave()
        depth = depth - 1
        if depth > 0 then return end
        if head > tail then
            owner = nil
            return
        end
        -- Hand over before waking, so no coroutine that asks in between can slip in ahead.
        owner = waiting[head]
        waiting[head] = nil
        head = head + 1
        skynet.wakeup(owner)
    end

    local function finish(r)
        leave()
        if not r[1] then error(r[2], 0) end
        return unpack(r, 2, r.n)
    end

    return function(f, ...)
        local co = running()
        if owner == nil then
            owner = co
        elseif owner ~= co then
            tail = tail + 1
            waiting[tail] = co
            -- leave() makes this coroutine the owner before waking it; any other wake-up is
            -- not ours to act on.
            repeat skynet.wait(co) until owner == co
        end
        depth = depth + 1
        return finish(pack(xpcall(f, traceback, ...)))
    end
end

skynet.queue = new_queue

return new_queue
