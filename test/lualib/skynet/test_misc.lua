-- env, time, addresses, stat, task and error logging.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    t.eq(skynet.getenv "thread", "2", "config values are in the env")
    t.eq(skynet.getenv "no_such_key", nil, "missing key")
    skynet.setenv("test_misc_key", "v1")
    t.eq(skynet.getenv "test_misc_key", "v1", "setenv")
    t.raises({ "existing key" }, skynet.setenv, "test_misc_key", "v2")
    t.eq(skynet.getenv "test_misc_key", "v1", "setenv does not overwrite")

    local now = skynet.now()
    t.ok(math.type(now) == "integer" and now >= 0, "now")
    t.ok(math.abs(skynet.time() - os.time()) < 2, "time is wall-clock seconds")
    t.ok(skynet.starttime() <= os.time() and skynet.starttime() > os.time() - 60, "starttime")
    local h0 = skynet.hpc()
    skynet.sleep(2)  -- at least one whole 10 ms tick
    t.ok(skynet.hpc() - h0 >= 5 * 1000 * 1000, "hpc in nanoseconds")

    local self = skynet.self()
    t.eq(skynet.address(self), string.format(":%08x", self), "address")
    t.eq(skynet.address ".name", ".name", "address of a name")

    t.ok(skynet.stat "message" >= 1, "message count")
    t.ok(skynet.stat "cpu" >= 0, "cpu seconds")
    t.eq(skynet.stat "mqlen", 0, "mailbox length")
    t.ok(skynet.stat "memory" > 0, "memory")
    t.eq(skynet.stat "endless", false, "endless")
    t.raises({ "invalid option 'bogus'" }, skynet.stat, "bogus")

    -- task: coroutines waiting for a session, with tracebacks.
    local waiter = skynet.fork(function() skynet.wait() end)
    skynet.yield()
    t.eq(skynet.task(), 1, "one waiting coroutine")
    local tasks = {}
    t.eq(skynet.task(tasks), 1, "task(table) count")
    local session, tb = next(tasks)
    t.ok(tb:find("test_misc.lua", 1, true), tb)
    t.eq(skynet.task(session), tb, "task(session)")
    skynet.wakeup(waiter)
    skynet.yield()
    t.eq(skynet.task(), 0, "no waiting coroutine")

    skynet.error("several", "values", 1, nil, true)
    t.eq(skynet.localname ".launcher" ~= nil, true, "bootstrap named the launcher")
end)
