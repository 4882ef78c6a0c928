-- skynet.coroutine: user coroutines that may block in skynet calls between their own yields.
local skynet = require "skynet"
local co = require "skynet.coroutine"
local t = require "tlib"

t.run(function()
    local echo = skynet.newservice "helper_echo"

    -- A generator whose steps call another service.
    local gen = co.create(function(n)
        for i = 1, n do
            local v = skynet.call(echo, "lua", "echo", i * 10)
            co.yield(v)
        end
        return "done"
    end)
    local seen = {}
    local ok, v = co.resume(gen, 3)
    while co.status(gen) ~= "dead" do
        t.ok(ok, v)
        seen[#seen + 1] = v
        ok, v = co.resume(gen)
    end
    t.eq(table.concat(seen, ","), "10,20,30", "yielded values")
    t.eq(v, "done", "return value")

    -- While it waits for a message, the coroutine is "blocked" and cannot be resumed.
    local blocker = co.create(function() skynet.sleep(5) return "slept" end)
    local result
    skynet.fork(function() result = table.pack(co.resume(blocker)) end)
    skynet.yield()
    t.eq(co.status(blocker), "blocked", "status while sleeping")
    local refused, why = co.resume(blocker)
    t.eq(refused, false, "resume of a blocked coroutine")
    t.ok(why:find("waits for a message", 1, true), why)
    t.wait_until(function() return result end, 100, "the sleeping coroutine")
    t.eq(result[1], true, "resume succeeded")
    t.eq(result[2], "slept", "value after the sleep")

    -- wrap, errors, and plain coroutines keep working.
    local w = co.wrap(function(a) local b = co.yield(a + 1) return b * 2 end)
    t.eq(w(1), 2, "wrap yield")
    t.eq(w(5), 10, "wrap return")
    local bad = co.create(function() error("inside") end)
    local okb, err = co.resume(bad)
    t.eq(okb, false, "error resumes false")
    t.ok(tostring(err):find("inside", 1, true), err)
    local plain = coroutine.wrap(function() coroutine.yield(1) return 2 end)
    t.eq(plain() + plain(), 3, "plain coroutine.wrap")
end)
