-- skynet.coroutine function by function, as skynet defines it (docs/lua-api.md, "skynet API
-- coverage"): each check fails when skyhive's behaviour diverges from skynet's.
local skynet = require "skynet"
local co = require "skynet.coroutine"
local t = require "tlib"

t.run(function()
    local main = coroutine.running()
    t.eq(co.running(), main, "running")
    t.eq(co.isyieldable(), true, "isyieldable in a message coroutine")

    -- thread(): the message coroutine under a skynet coroutine, and false; itself and true
    -- otherwise.
    local th, th_main = co.thread()
    t.eq(th, main, "thread() in the message coroutine")
    t.eq(th_main, true, "the message coroutine is a skynet thread")
    local inner, outer
    local c1 = co.create(function()
        local c2 = co.create(function() inner = table.pack(co.thread()) end)
        assert(co.resume(c2))
        outer = table.pack(co.thread())
    end)
    assert(co.resume(c1))
    t.eq(outer[1], main, "thread() of a skynet coroutine")
    t.eq(outer[2], false, "a skynet coroutine is not a skynet thread")
    t.eq(inner[1], main, "thread() of a nested skynet coroutine is still the message one")
    local plain = coroutine.create(function() end)
    local pt, pmain = co.thread(plain)
    t.eq(pt, plain, "thread(plain coroutine)")
    t.eq(pmain, true, "a plain coroutine counts as a thread")

    -- create/resume/yield/status/wrap.
    local gen = co.create(function(a)
        local b = co.yield(a + 1)
        skynet.sleep(1)  -- a framework yield passes through
        return b * 2
    end)
    t.eq(co.status(gen), "suspended", "status before the first resume")
    t.ok(t.same(table.pack(co.resume(gen, 1)), { n = 2, true, 2 }), "resume to the first yield")
    local finished
    skynet.fork(function() finished = table.pack(co.resume(gen, 5)) end)
    skynet.yield()
    t.eq(co.status(gen), "blocked", "status while the framework holds it")
    local refused, why = co.resume(gen)
    t.eq(refused, false, "resume while blocked")
    t.ok(why:find("waits for a message", 1, true), why)
    t.wait_until(function() return finished end, 100, "the blocked coroutine to finish")
    t.ok(t.same(finished, { n = 2, true, 10 }), "resume returns the function's result")
    t.eq(co.status(gen), "dead", "status after the end")
    local dok, derr = co.resume(gen)
    t.eq(dok, false, "resume of a dead coroutine")
    t.ok(derr:find("dead coroutine", 1, true), derr)

    -- Only coroutines made here resume here (skynet refuses the others).
    local pok, perr = co.resume(coroutine.create(function() return 1 end))
    t.eq(pok, false, "resume of a plain coroutine")
    t.ok(perr:find("not made by skynet.coroutine.create", 1, true), perr)

    local w = co.wrap(function(a) local b = co.yield(a * 3) return b + 1 end)
    t.eq(w(2), 6, "wrap yields")
    t.eq(w(9), 10, "wrap returns")
    t.raises({ "cannot resume dead coroutine" }, w)
    local bad = co.wrap(function() error("wrapped boom") end)
    t.raises({ "wrapped boom" }, bad)
end)
