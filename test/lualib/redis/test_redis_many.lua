-- 10,000 coroutines share one connection: every reply reaches its own caller, and the
-- pipelining keeps the order of issue, also where a tick's commands are split over several
-- writes (one every 16 commands).
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")

t.run(function()
    local db = redis.connect { port = port, db = 3, replies = "raw",
        timeout = math.ceil(5000 * t.slowdown) }
    db:flushdb()
    -- A sanitizer run (t.slowdown > 1) looks for races, not scale: fewer coroutines, so that the
    -- message that starts them all stays under the monitor's threshold there.
    local N = 10000 // math.floor(t.slowdown)
    local got, wrong, finished = {}, 0, 0
    for i = 1, N do
        skynet.fork(function()
            -- Each coroutine writes its own key, reads it back and checks both replies are its.
            local key = "k" .. i
            db:set(key, i * 7)
            local v = db:get(key)
            local n = db:incr(key)
            if v ~= tostring(i * 7) or n ~= i * 7 + 1 then wrong = wrong + 1 end
            got[i] = n
            finished = finished + 1
        end)
    end
    t.wait_until(function() return finished == N end, 2000, N .. " coroutines")
    t.eq(wrong, 0, "replies matched to the wrong caller")
    for i = 1, N do t.eq(got[i], i * 7 + 1, "coroutine " .. i) end
    t.eq(db:dbsize(), N, "every key written once")

    -- Order of issue is the order of execution on the server.
    local order = {}
    for i = 1, 100 do
        skynet.fork(function() order[i] = db:rpush("order", i) end)
    end
    t.wait_until(function() return #order == 100 end, 500, "rpush")
    local list = db:lrange("order", 0, -1)
    for i = 1, 100 do
        t.eq(list[i], tostring(i), "list position " .. i)
        t.eq(order[i], i, "rpush reply " .. i)
    end

    -- Many pipelines in flight at once, interleaved with single commands.
    local pdone = 0
    for i = 1, 200 do
        skynet.fork(function()
            local ops = {}
            for j = 1, 10 do ops[j] = { "incr", "pc" .. i } end
            local res = db:pipeline(ops)
            for j = 1, 10 do assert(res[j] == j, "pipeline reply out of place") end
            pdone = pdone + 1
        end)
        skynet.fork(function() assert(db:echo("e" .. i) == "e" .. i) end)
    end
    t.wait_until(function() return pdone == 200 end, 1000, "pipelines")
    t.eq(skynet.task(), 0, "no coroutine left waiting")
end)
