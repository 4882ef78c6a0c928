-- skynet.queue: coroutines of one service interleave at every yield without it and run one at a
-- time with it, in the order they asked; the holder may enter again; an error releases.
local skynet = require "skynet"
local queue = require "skynet.queue"
local t = require "tlib"

local function joined(list) return table.concat(list, ",") end

-- Starts one coroutine per name; each appends "<name>+", yields twice, then "<name>-", wrapped in
-- `wrap` (a critical section, or a plain call). Returns the log once all have finished.
local function run_workers(names, wrap)
    local log, done = {}, 0
    for _, name in ipairs(names) do
        skynet.fork(function()
            wrap(function()
                log[#log + 1] = name .. "+"
                skynet.sleep(1)
                skynet.yield()
                log[#log + 1] = name .. "-"
            end)
            done = done + 1
        end)
    end
    t.wait_until(function() return done == #names end, 300, "workers")
    return joined(log)
end

t.run(function()
    t.eq(skynet.queue, queue, "require sets skynet.queue, as skynet's module does")

    -- Without the section the three interleave; with it they are serialized, first come first in.
    t.eq(run_workers({ "a", "b", "c" }, function(f) f() end), "a+,b+,c+,a-,b-,c-", "plain")
    local cs = queue()
    t.eq(run_workers({ "a", "b", "c" }, cs), "a+,a-,b+,b-,c+,c-", "serialized")

    -- A read-modify-write across a call is safe only inside the section.
    local balance = 0
    local function deposit(n)
        local b = balance
        skynet.sleep(1)
        balance = b + n
    end
    local left = 2
    for _ = 1, 2 do
        skynet.fork(function() deposit(10); left = left - 1 end)
    end
    t.wait_until(function() return left == 0 end, 300, "plain deposits")
    t.eq(balance, 10, "without the queue one update is lost")
    balance, left = 0, 2
    for _ = 1, 2 do
        skynet.fork(function() cs(deposit, 10); left = left - 1 end)
    end
    t.wait_until(function() return left == 0 end, 300, "queued deposits")
    t.eq(balance, 20, "with the queue both updates land")

    -- Re-entrance: the holder enters again without waiting for itself (in a fork, so a deadlock
    -- shows up as a timeout here rather than a hung test).
    local inner
    skynet.fork(function()
        inner = cs(function(x)
            return cs(function(y)
                skynet.sleep(1)
                return x + y
            end, 2)
        end, 1)
    end)
    t.wait_until(function() return inner ~= nil end, 300, "re-entrant call")
    t.eq(inner, 3, "nested result")

    -- Results keep their count, nils included, and arguments pass through.
    local n, a, b, c = (function(...) return select("#", ...), ... end)(cs(function(...)
        return ...
    end, 1, nil, 3))
    t.eq(n, 3, "result count")
    t.ok(a == 1 and b == nil and c == 3, "results")

    -- An error inside releases the section: it reaches the caller with f's traceback, and a
    -- coroutine waiting meanwhile gets in.
    local order = {}
    skynet.fork(function()
        local err = t.raises({ "boom", "stack traceback" }, cs, function()
            order[#order + 1] = "failing"
            skynet.sleep(1)
            error("boom")
        end)
        order[#order + 1] = "caught"
        t.ok(err:find("test_queue.lua", 1, true), "error names where it was raised")
    end)
    local after
    skynet.fork(function()
        after = cs(function()
            order[#order + 1] = "next"
            return "in"
        end)
    end)
    t.wait_until(function() return after ~= nil and #order == 3 end, 300, "waiter after error")
    t.eq(after, "in", "waiter entered")
    t.eq(joined(order), "failing,caught,next", "error releases before the waiter runs")

    -- An error in a nested entry releases only that level: the outer one still holds the section.
    order = {}
    local outer_done = false
    skynet.fork(function()
        cs(function()
            local ok = pcall(cs, function() error("inner") end)
            order[#order + 1] = "inner " .. tostring(ok)
            skynet.sleep(1)
            order[#order + 1] = "outer"
        end)
        outer_done = true
    end)
    skynet.fork(function()
        cs(function() order[#order + 1] = "other" end)
    end)
    t.wait_until(function() return outer_done and #order == 3 end, 300, "nested error")
    t.eq(joined(order), "inner false,outer,other", "outer level still held after inner error")

    -- Two sections are independent.
    local cs2 = queue()
    local both
    cs(function()
        skynet.fork(function() both = cs2(function() return "free" end) end)
        t.wait_until(function() return both ~= nil end, 300, "second section")
    end)
    t.eq(both, "free", "a second queue does not wait for the first")
end)
