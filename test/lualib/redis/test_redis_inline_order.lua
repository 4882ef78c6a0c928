-- A service whose socket events run on the socket thread (socket.inline) while messages from
-- other services keep it busy on the workers too: every Redis reply still reaches the coroutine
-- that sent the command, before and after a handler that overruns the inline limit moves the
-- service to the workers for good.
local skynet = require "skynet"
local socket = require "skynet.socket"
local redis = require "skynet.db.redis"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")

local db
local wrong, done = 0, 0

-- One command whose reply names its caller; a reply meant for another is counted.
local function check(tag)
    local r = db:echo(tag)
    if r ~= tag then
        wrong = wrong + 1
        if wrong <= 5 then skynet.error(string.format("sent %s, got %s", tag, tostring(r))) end
    end
    done = done + 1
end

local seq = 0
local function next_tag(prefix)
    seq = seq + 1
    return prefix .. seq
end

-- Reading socket.inline means setting it: put back what was there.
local function inline_on()
    local on = socket.inline(false)
    socket.inline(on)
    return on
end

-- True when this code runs on the socket thread (its name, as the kernel keeps it).
local function on_socket_thread()
    local f = io.open("/proc/thread-self/comm")
    if not f then return false end
    local name = f:read("l")
    f:close()
    return name == "socket"
end

local stalling = false
-- Until the service has left the socket thread: a coroutine a reply resumed on the socket
-- thread blocks for 20 ms (a child process that sleeps), which overruns the inline limit. Only
-- there: on a slow build (a sanitizer's) most replies find the service busy and run on the
-- workers, where a stall proves nothing and keeps the service busy for longer. Blocking, not
-- spinning: a thread that spins may be preempted for most of the time on a busy host, and a
-- handler only preempted past the limit is not an overrun. At most one stall in 60 ms. The
-- overrun is reported once the reply's handler has returned, so the service's demotion is seen
-- by a later call, on whichever thread it runs.
local last_stall = 0
local function stall_until_demoted()
    if not stalling then return end
    if not inline_on() then
        stalling = false
        return
    end
    if skynet.hpc() - last_stall < 60e6 or not on_socket_thread() then return end
    os.execute("sleep 0.02")
    last_stall = skynet.hpc()
end

t.run(function()
    db = redis.connect { port = port, db = 3 }
    socket.inline(true)
    local me = skynet.self()
    -- Messages from a worker: each sends a command from the handler the worker runs.
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd == "ping" then
            check(next_tag("w"))
            skynet.ret()
        end
    end)
    local stop = false
    -- Coroutines resumed by replies (inline, on the socket thread) send the next command. On a
    -- slow build fewer of them, and fewer pings: under the same load the service never goes
    -- idle there, so that no reply ever runs on the socket thread.
    local coroutines, pingers = 32 // t.slowdown, math.max(1, 8 // t.slowdown)
    local running = 0
    for i = 1, coroutines do
        running = running + 1
        skynet.fork(function()
            while not stop do
                check(next_tag("c" .. i .. "."))
                stall_until_demoted()
            end
            running = running - 1
        end)
    end
    local pinger = skynet.newservice("helper_redis_inline_pinger", me, pingers)
    skynet.sleep(math.ceil(50 * t.slowdown))
    local inline_before, done_before = skynet.stat "inline", done
    stalling = true
    t.wait_until(function() return not stalling end, 1000, "an overrun on the socket thread")
    skynet.sleep(math.ceil(50 * t.slowdown))
    stop = true
    t.wait_until(function() return running == 0 end, 500, "coroutines")
    skynet.call(pinger, "lua", "stop")
    t.eq(wrong, 0, "replies that reached another coroutine")
    t.ok(inline_before > 0, "messages ran inline before the overrun")
    t.ok(done_before > 1000 // t.slowdown, "commands checked before the overrun: " .. done_before)
    t.ok(done > done_before + 100 // t.slowdown, "commands checked after it: " .. done - done_before)
end)
