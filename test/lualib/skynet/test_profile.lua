-- skynet.core.profile_start/profile_stop, the sampler behind the debug console's profile: the
-- hooks it sets and clears, the coroutines it reaches, the order of its rows and its refusals.
local skynet = require "skynet"
local core = require "skynet.core"
local t = require "tlib"

-- About 4 VM instructions a turn: 10^6 turns are some 40,000 samples at a period of 100.
local function hot(turns)
    local x = 0
    for i = 1, turns do x = x + i % 7 end
    return x
end

local function cold()
    local x = 0
    for i = 1, 20000 do x = x + i end
    return x
end

t.run(function()
    t.eq(core.profile_stop(), nil, "profile_stop without a profile")
    t.raises({ "period out of 1..10000000" }, core.profile_start, 0)
    t.raises({ "period out of 1..10000000" }, core.profile_start, 10000001)

    core.profile_start(100)
    t.raises({ "a profile is already running" }, core.profile_start)
    local hook, mask, count = debug.gethook()
    t.eq(hook, "external hook", "the running coroutine is hooked")
    t.eq(mask, "", "a count hook only")
    t.eq(count, 100, "every period instructions")
    -- A coroutine the service makes while the profile runs inherits the hook.
    local co = coroutine.create(function()
        while true do
            cold()
            coroutine.yield()
        end
    end)
    t.eq(select(3, debug.gethook(co)), 100, "a new coroutine inherits the hook")
    -- A message handled meanwhile runs in a coroutine of the pool: hooked too.
    local done = false
    skynet.fork(function()
        t.eq(select(3, debug.gethook()), 100, "a fork's coroutine is hooked")
        done = true
    end)
    skynet.sleep(0)
    t.ok(done, "the fork ran")
    hot(1000000)
    assert(coroutine.resume(co))
    local p = core.profile_stop()

    t.eq(debug.gethook(), nil, "profile_stop clears the hooks")
    t.eq(p.period, 100, "the period")
    t.ok(p.samples > 1000, "samples: " .. tostring(p.samples))
    local info = debug.getinfo(hot, "S")
    t.eq(p[1].where, info.short_src .. ":" .. info.linedefined, "hot() is the first row")
    t.ok(p[1].count > p.samples / 2, "hot() has most samples")
    local sum, cold_row = 0, nil
    local cinfo = debug.getinfo(cold, "S")
    for i, r in ipairs(p) do
        sum = sum + r.count
        if i > 1 then t.ok(r.count <= p[i - 1].count, "rows by count, most first") end
        if r.where == cinfo.short_src .. ":" .. cinfo.linedefined then cold_row = r end
    end
    t.eq(sum, p.samples, "the rows add up to the samples")
    t.ok(cold_row, "the coroutine made during the profile was sampled")

    -- The coroutine out of profile_stop's reach drops its hook the next time it would fire.
    t.eq(select(3, debug.gethook(co)), 100, "still hooked until it runs")
    assert(coroutine.resume(co))
    t.eq(debug.gethook(co), nil, "it dropped its hook")

    -- A second profile, after the first let go of its state.
    core.profile_start()
    hot(10000)
    local again = core.profile_stop()
    t.eq(again.period, 1000, "the default period")
    t.ok(again.samples > 0, "the second profile samples")
    t.eq(again.lines, false, "by function unless asked")

    -- By line: the loop's line of hot() comes first.
    core.profile_start(100, true)
    hot(300000)
    local lines = core.profile_stop()
    t.eq(lines.lines, true, "by line")
    local loop_line = info.linedefined + 2 -- `for i = 1, turns do ... end`
    t.eq(lines[1].where, info.short_src .. ":" .. loop_line, "hot()'s loop is the first line")
end)
