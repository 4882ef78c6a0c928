-- skynet.calltimeout: answers in time, times out with a clear error, drops late answers.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    local echo = skynet.newservice "helper_echo"

    local a, b = skynet.calltimeout(1000, echo, "lua", "echo", "fast", 2)
    t.eq(a, "fast", "answer in time")
    t.eq(b, 2, "second value")

    local t0 = skynet.now()
    t.raises({ "call to " .. skynet.address(echo) .. " timed out after 50 ms" },
        skynet.calltimeout, 50, echo, "lua", "sleep", 40, "late")
    local waited = skynet.now() - t0
    t.ok(waited >= 5 and waited < 40, "timed out after ~50 ms, waited " .. waited .. " cs")

    -- The late answer arrives while we wait here and is dropped; the next call gets its own.
    skynet.sleep(50)
    t.eq(skynet.call(echo, "lua", "echo", "next"), "next", "call after a timeout")

    -- A zero timeout fires on the next tick at the latest.
    t.raises({ "timed out after 0 ms" }, skynet.calltimeout, 0, echo, "lua", "sleep", 10)

    -- Many timed calls in flight at once, half answering in time.
    local outcomes = {}
    for i = 1, 10 do
        skynet.fork(function()
            local ok, v = pcall(skynet.calltimeout, 100, echo, "lua", "sleep", i % 2 == 0 and 1 or 30, i)
            outcomes[i] = ok and v or "timeout"
        end)
    end
    t.wait_until(function() return #outcomes == 10 end, 300, "timed calls")
    for i = 1, 10 do
        t.eq(outcomes[i], i % 2 == 0 and i or "timeout", "timed call " .. i)
    end
    skynet.sleep(30)  -- the slow answers come back and are dropped
    t.eq(skynet.task(), 0, "no coroutine left waiting")

    -- A dead service fails at once rather than timing out.
    skynet.call(echo, "lua", "exit")
    t.raises({ "call to " .. skynet.address(echo) .. " failed", "dead" },
        skynet.calltimeout, 1000, echo, "lua", "echo")
end)
