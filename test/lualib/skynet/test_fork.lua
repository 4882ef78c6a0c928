-- fork / sleep / yield / wait / wakeup / timeout ordering.
local skynet = require "skynet"
local core = require "skynet.core"
local t = require "tlib"

local function joined(list) return table.concat(list, ",") end

t.run(function()
    -- Forks run after the current coroutine suspends, in fork order, before the next message.
    local order = {}
    skynet.fork(function() order[#order + 1] = "f1" end)
    skynet.fork(function(a, b) order[#order + 1] = a .. b end, "f", "2")
    order[#order + 1] = "main"
    skynet.yield()
    t.eq(joined(order), "main,f1,f2", "fork order")

    -- A fork forked by a fork still runs in the same round, after the earlier ones.
    order = {}
    skynet.fork(function()
        order[#order + 1] = "a"
        skynet.fork(function() order[#order + 1] = "c" end)
    end)
    skynet.fork(function() order[#order + 1] = "b" end)
    skynet.yield()
    t.eq(joined(order), "a,b,c", "nested fork order")

    -- Sleepers wake by deadline, not by start order; timeouts likewise.
    order = {}
    for _, cs in ipairs { 6, 2, 4 } do
        skynet.fork(function()
            skynet.sleep(cs)
            order[#order + 1] = cs
        end)
    end
    skynet.timeout(3, function() order[#order + 1] = "t3" end)
    skynet.timeout(5, function() order[#order + 1] = "t5" end)
    t.wait_until(function() return #order == 5 end, 200, "sleepers")
    t.eq(joined(order), "2,t3,4,t5,6", "wake-up order")

    -- sleep really waits: now() moves by at least the delay.
    local t0 = skynet.now()
    skynet.sleep(5)
    t.ok(skynet.now() - t0 >= 5, "sleep(5) lasted 5 centiseconds")

    -- wait / wakeup: the woken coroutine runs once the waker suspends, not inside wakeup().
    order = {}
    local waiter = skynet.fork(function()
        order[#order + 1] = "wait"
        skynet.wait()
        order[#order + 1] = "woken"
    end)
    skynet.yield()
    t.eq(joined(order), "wait", "waiter waiting")
    t.eq(skynet.task(), 1, "one coroutine waits")
    t.eq(skynet.wakeup(waiter), true, "wakeup finds the waiter")
    order[#order + 1] = "after wakeup"
    skynet.yield()
    t.eq(joined(order), "wait,after wakeup,woken", "wakeup order")
    t.eq(skynet.wakeup(waiter), nil, "nobody waits any more (nil, as in skynet)")

    -- Several wakeups run in the order they were made.
    order = {}
    local tokens = {}
    for i = 1, 3 do
        tokens[i] = {}
        skynet.fork(function()
            skynet.wait(tokens[i])
            order[#order + 1] = i
        end)
    end
    skynet.yield()
    skynet.wakeup(tokens[2])
    skynet.wakeup(tokens[3])
    skynet.wakeup(tokens[1])
    skynet.yield()
    t.eq(joined(order), "2,3,1", "wakeup queue order")

    -- A sleep woken early returns "BREAK"; its timer, firing later, must not resume anything.
    local result
    local sleeper = skynet.fork(function() result = skynet.sleep(20) end)
    skynet.yield()
    skynet.wakeup(sleeper)
    skynet.yield()
    t.eq(result, "BREAK", "woken sleep")
    local resumed = 0
    -- The pooled coroutine that slept is reused here; the stale timer must not wake it.
    local reused = skynet.fork(function()
        skynet.wait()
        resumed = resumed + 1
    end)
    skynet.sleep(30)
    t.eq(resumed, 0, "a stale timer resumed a reused coroutine")
    skynet.wakeup(reused)
    skynet.yield()
    t.eq(resumed, 1, "reused coroutine woken once")
    t.eq(skynet.task(), 0, "no coroutine left waiting")

    -- after_message (the Redis client's flush): called once the message and its forks have run,
    -- in the order queued, on the main thread; what they queue runs in the same round. One that
    -- raises, or tries to yield, is logged and the rest still run.
    order = {}
    core.after_message(function()
        local _, main = coroutine.running()
        order[#order + 1] = main and "a1 on main" or "a1 in a coroutine"
        skynet.fork(function() order[#order + 1] = "fork of a1" end)
        core.after_message(function() order[#order + 1] = "a3" end)
    end)
    skynet.fork(function()
        order[#order + 1] = "f1"
        core.after_message(function() order[#order + 1] = "after of f1" end)
    end)
    core.after_message(function() error("after_message boom") end)
    core.after_message(function()
        skynet.yield()
        order[#order + 1] = "yielded"
    end)
    core.after_message(function() order[#order + 1] = "a2" end)
    order[#order + 1] = "body"
    t.eq(joined(order), "body", "nothing runs before the message ends")
    skynet.yield()
    t.eq(joined(order), "body,f1,a1 on main,a2,after of f1,a3,fork of a1", "after_message order")
    t.raises({ "bad argument #1", "function expected" }, core.after_message, 42)
    -- Called once: the next message runs none of them again.
    order = {}
    skynet.yield()
    t.eq(joined(order), "", "each is called once")
end)
