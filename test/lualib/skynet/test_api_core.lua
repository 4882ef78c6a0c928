-- skynet.lua function by function, as skynet defines it (docs/lua-api.md, "skynet API
-- coverage"): each check fails when skyhive's behaviour diverges from skynet's.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    -- Protocol numbers are skynet.h's.
    local ptypes = { TEXT = 0, RESPONSE = 1, MULTICAST = 2, CLIENT = 3, SYSTEM = 4, HARBOR = 5,
        SOCKET = 6, ERROR = 7, QUEUE = 8, DEBUG = 9, LUA = 10, SNAX = 11, TRACE = 12 }
    for name, id in pairs(ptypes) do t.eq(skynet["PTYPE_" .. name], id, "PTYPE_" .. name) end

    -- context(): nil, nil outside a request (the start function runs in a timer coroutine).
    local s0, a0 = skynet.context()
    t.eq(s0, nil, "context session in the start function")
    t.eq(a0, nil, "context source in the start function")
    local helper = skynet.newservice "helper_context"
    local session, source, helper_self = skynet.call(helper, "lua", "ctx")
    t.ok(math.type(session) == "integer" and session > 0, "context session of a call")
    t.eq(source, skynet.self(), "context source is the caller")
    t.eq(helper_self, helper, "the helper's self")
    local s1, a1 = skynet.call(helper, "lua", "after")
    t.eq(s1, nil, "context session once answered")
    t.eq(a1, skynet.self(), "context source once answered")
    skynet.send(helper, "lua", "note")
    local s2, a2 = skynet.call(helper, "lua", "noted")
    t.eq(s2, 0, "context session of a send")
    t.eq(a2, skynet.self(), "context source of a send")
    local s3, a3 = skynet.call(helper, "lua", "forked")
    t.eq(s3, nil, "context session in a fork")
    t.eq(a3, nil, "context source in a fork")

    -- mqlen(): messages waiting in this service's queue.
    skynet.dispatch("lua", function() end)
    local before = skynet.mqlen()
    t.ok(math.type(before) == "integer", "mqlen is an integer")
    for i = 1, 5 do skynet.send(skynet.self(), "lua", i) end
    t.ok(skynet.mqlen() >= before + 5, "mqlen counts the 5 queued sends: " .. skynet.mqlen())
    t.eq(skynet.mqlen(), skynet.stat "mqlen", "mqlen is stat mqlen")
    skynet.sleep(1)
    t.eq(skynet.mqlen(), 0, "mqlen after they ran")

    -- endless(), genid(), pcall().
    t.eq(skynet.endless(), false, "endless")
    local g1, g2 = skynet.genid(), skynet.genid()
    t.ok(math.type(g1) == "integer" and g1 > 0 and g2 ~= g1, "genid gives fresh sessions")
    t.ok(t.same(table.pack(skynet.pcall(function(a, b) return a + b, "x" end, 1, 2)),
        { n = 3, true, 3, "x" }), "pcall passes arguments and results")
    local ok, err = skynet.pcall(error, "boom", 0)
    t.eq(ok, false, "pcall of a raising function")
    t.eq(err, "boom", "pcall's error")

    -- dispatch(name) queries; nil for an unknown protocol; setting one raises.
    local f = function() end
    local old = skynet.dispatch("lua", f)
    t.eq(type(old), "function", "dispatch returns the previous handler")
    t.eq(skynet.dispatch "lua", f, "dispatch(name) returns the handler")
    t.eq(skynet.dispatch "no_such_protocol", nil, "dispatch of an unknown protocol")
    t.raises({ "unknown protocol" }, skynet.dispatch, "no_such_protocol", f)
    t.raises({ "registered twice" }, skynet.register_protocol, { name = "lua", id = 10 })
    t.raises({ "id 10 registered twice (taken by lua)" }, skynet.register_protocol,
        { name = "mine", id = 10 })

    -- timeout(cs, f) returns f's coroutine (skynet: "for debug").
    local fired
    local co = skynet.timeout(1, function() fired = coroutine.running() end)
    t.eq(type(co), "thread", "timeout returns a coroutine")
    t.wait_until(function() return fired end, 100, "the timeout")
    t.eq(fired, co, "the timeout runs in that coroutine")

    -- sleep/wait/wakeup: wakeup of a sleeper is true and sleep returns "BREAK".
    local token, slept = {}, nil
    skynet.fork(function() slept = skynet.sleep(1000, token) end)
    skynet.yield()
    t.eq(skynet.wakeup(token), true, "wakeup of a sleeping token")
    skynet.yield()
    t.eq(slept, "BREAK", "sleep woken early")
    t.eq(skynet.wakeup(token), nil, "wakeup of nobody")

    -- A coroutine that is its own token (wait(), wait(co), sleep(n)) is found from its thread;
    -- a coroutine waiting on another token is not woken by its thread, only by that token.
    local order = {}
    local w1 = skynet.fork(function() skynet.wait(); order[#order + 1] = "wait()" end)
    local w2 = skynet.fork(function()
        skynet.wait(coroutine.running())
        order[#order + 1] = "wait(co)"
    end)
    local w3 = skynet.fork(function()
        local r = skynet.sleep(1000)
        order[#order + 1] = r
    end)
    local w4 = skynet.fork(function() skynet.wait("a token"); order[#order + 1] = "wait(token)" end)
    skynet.yield()
    t.eq(skynet.wakeup(w2), true, "wakeup of wait(co)")
    t.eq(skynet.wakeup(w1), true, "wakeup of wait()")
    t.eq(skynet.wakeup(w1), true, "a second wakeup before it ran is still true")
    t.eq(skynet.wakeup(w3), true, "wakeup of sleep(n)")
    t.eq(skynet.wakeup(w4), nil, "a thread waiting on another token")
    t.eq(skynet.wakeup("a token"), true, "that token")
    skynet.yield()
    t.eq(table.concat(order, ","), "wait(co),wait(),BREAK,wait(token)", "woken in wakeup order")
    t.eq(skynet.wakeup(w1), nil, "wakeup of a coroutine that ended")
    t.eq(skynet.wakeup(coroutine.create(function() end)), nil, "a coroutine the script made")
    -- More coroutines end at once than the scheduler pools: it releases the rest, and their
    -- threads, still referenced here, are nobody to wake.
    local many = {}
    for i = 1, 300 do many[i] = skynet.fork(function() skynet.wait() end) end
    skynet.yield()
    local woken = 0
    for i = 1, 300 do woken = woken + (skynet.wakeup(many[i]) and 1 or 0) end
    t.eq(woken, 300, "300 waiters woken by their threads")
    skynet.yield()
    local again = 0
    for i = 1, 300 do again = again + (skynet.wakeup(many[i]) and 1 or 0) end
    t.eq(again, 0, "released and pooled threads wake nobody")

    -- task(co) -> the session it waits for; task(session) -> its traceback, "No session" for
    -- none; task "init" -> the start function's traceback while it runs.
    local waiter = skynet.fork(function() skynet.wait() end)
    skynet.yield()
    local wsession = skynet.task(waiter)
    t.ok(math.type(wsession) == "integer", "task(co) gives its session")
    t.ok(skynet.task(wsession):find("test_api_core.lua", 1, true), "task(session)")
    t.eq(skynet.task(coroutine.running()), nil, "task(co) of a running coroutine")
    skynet.wakeup(waiter)
    skynet.yield()
    t.eq(skynet.task(wsession), "No session", "task(session) once it ran")
    local init_tb = skynet.task "init"
    t.ok(init_tb and init_tb:find("test_api_core.lua", 1, true), "task init in the start function")
    t.eq(skynet.call(helper, "lua", "init"), nil, "task init once start has finished")

    -- killthread(co): a queued fork never runs; a sleeper, a caller never resume (the late
    -- answer is dropped); a killed handler's caller gets an error. nil when co does not wait.
    local ran
    local queued = skynet.fork(function() ran = true end)
    t.eq(skynet.killthread(queued), queued, "killthread of a queued fork")
    local sleeper = skynet.fork(function() skynet.sleep(2) ran = true end)
    local caller = skynet.fork(function()
        skynet.call(skynet.uniqueservice "helper_echo", "lua", "sleep", 2)
        ran = true
    end)
    skynet.yield()
    local waiting = skynet.task()
    t.eq(skynet.killthread(sleeper), sleeper, "killthread of a sleeper")
    t.eq(skynet.killthread(caller), caller, "killthread of a caller")
    t.eq(skynet.task(), waiting - 2, "the killed coroutines wait no more")
    t.eq(skynet.killthread(sleeper), nil, "killthread of a coroutine that no longer waits")
    t.eq(skynet.killthread(coroutine.running()), nil, "killthread of the running coroutine")
    skynet.sleep(5)
    t.eq(ran, nil, "no killed coroutine ran on")
    local hang_err
    skynet.fork(function() hang_err = select(2, pcall(skynet.call, helper, "lua", "hang")) end)
    skynet.yield()
    t.eq(skynet.call(helper, "lua", "kill_hung"), true, "killthread of a handler")
    t.wait_until(function() return hang_err end, 100, "the killed handler's caller")
    t.ok(hang_err:find("killthread", 1, true), hang_err)

    -- dispatch_unknown_request(f): f gets a send of a protocol with no dispatch function;
    -- dispatch_unknown_response(f): f gets an answer nobody waits for. Each returns the previous.
    local got
    t.eq(skynet.dispatch_unknown_request(function(session, source, msg, sz, prototype)
        got = { session, source, skynet.tostring(msg, sz), prototype }
    end), nil, "the default unknown-request function")
    skynet.redirect(skynet.self(), helper, 200, 0, "hello")
    t.wait_until(function() return got end, 100, "the unknown request")
    t.ok(t.same(got, { 0, helper, "hello", 200 }), "unknown request arguments")
    t.eq(type(skynet.dispatch_unknown_request(nil)), "function", "the previous function")
    got = nil
    skynet.dispatch_unknown_response(function(session, source, msg, sz, ok)
        got = { session, source, skynet.tostring(msg, sz), ok }
    end)
    skynet.redirect(skynet.self(), helper, skynet.PTYPE_RESPONSE, 777777, "late")
    t.wait_until(function() return got end, 100, "the unknown response")
    t.ok(t.same(got, { 777777, helper, "late", true }), "unknown response arguments")
    -- an error answer nobody waits for reaches it too: ok false, msg its text
    got = nil
    skynet.redirect(skynet.self(), helper, skynet.PTYPE_ERROR, 777778, "boom")
    t.wait_until(function() return got end, 100, "the unknown error answer")
    t.ok(t.same(got, { 777778, helper, "boom", false }), "unknown error answer arguments")
    skynet.dispatch_unknown_response(nil)

    -- newservice: the handle; nil when the start function exits (skynet's launcher answers
    -- REMOVE without a handle); an error when it raises.
    t.ok(math.type(helper) == "integer", "newservice returns a handle")
    t.eq(skynet.newservice("helper_exit_start", "now"), nil, "exit at once in start")
    t.eq(skynet.newservice("helper_exit_start", "late"), nil, "exit in start after a sleep")
    t.raises({ "newservice helper_bad_start failed", "start exploded" }, skynet.newservice,
        "helper_bad_start")
    t.raises({ "uniqueservice helper_exit_start: the service exited in its start function" },
        skynet.uniqueservice, "helper_exit_start", "now")
    t.eq(skynet.call(".launcher", "lua", "LAUNCH", "snlua", "helper_exit_start", "now"), nil,
        "the launcher's LAUNCH of a service that exits in start")

    -- uniqueservice / queryservice: one service per name.
    local u1 = skynet.uniqueservice "helper_echo"
    t.eq(skynet.uniqueservice "helper_echo", u1, "uniqueservice twice")
    t.eq(skynet.queryservice "helper_echo", u1, "queryservice")

    -- rawsend of a packed message: delivered as a send of that protocol.
    t.ok(skynet.rawsend(u1, "lua", skynet.pack("note", "raw")), "rawsend")
    t.ok(t.same(table.pack(skynet.call(u1, "lua", "count")), { n = 2, 1, "raw" }),
        "rawsend arrived")

    -- init(f) after the start function began runs f at once.
    local ran
    skynet.init(function() ran = true end)
    t.eq(ran, true, "init after start runs at once")

    -- Functions skynet has and skyhive lists as not provided (docs: differences table).
    for _, name in ipairs { "term", "request", "select", "tracecall", "cache", "trace", "tracetag",
        "tracelog", "traceproto", "uniqtask", "harbor", "dispatch_message", "init_service",
        "trace_timeout" } do
        t.eq(skynet[name], nil, "not provided: skynet." .. name)
    end
end)
