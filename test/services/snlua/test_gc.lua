-- Lua memory follows the live set: a service whose live set grew to a few MB under load, and then
-- shrank, holds about its new live set after allocating a fraction of the old one, without anyone
-- calling collectgarbage. With Lua's generational collector alone the records that turned old
-- stay until memory doubles: 7.7 MB in use for 0.03 MB live here.
local skynet = require "skynet"
local t = require "tlib"

local MB = 1024 * 1024

t.run(function()
    local s = skynet.newservice "helper_churn"
    for _ = 1, 1000 do skynet.call(s, "lua", "keep", 100) end
    local busy = skynet.call(s, "lua", "memory")
    t.ok(busy > 2 * MB, string.format("a live set of a few MB under load (%.1f MB)", busy / MB))
    t.eq(skynet.call(s, "lua", "mode"), "incremental", "a large live set: the incremental collector")

    skynet.call(s, "lua", "drop")
    -- The incremental collector starts its next cycle once memory has doubled since the last one
    -- (Lua's pause of 200%): churn until a cycle has seen the smaller live set and the state is
    -- back on the generational collector (bounded, so a collector that never follows fails).
    local churns = 0
    repeat
        skynet.call(s, "lua", "churn", 40)
        churns = churns + 1
    until skynet.call(s, "lua", "mode") == "generational" or churns == 500
    local idle = skynet.call(s, "lua", "memory")
    local live = skynet.call(s, "lua", "live")
    t.ok(idle < live + MB, string.format(
        "after the load, %.2f MB in use for a live set of %.2f MB", idle / MB, live / MB))
    t.eq(skynet.call(s, "lua", "mode"), "generational", "small again: back to generational")

    -- Garbage that dies young is the generational collector's: a small service stays small.
    local small = skynet.newservice "helper_churn"
    for _ = 1, 200 do skynet.call(small, "lua", "churn", 4) end
    t.ok(skynet.call(small, "lua", "memory") < MB, "a small service stays small")
    t.eq(skynet.call(small, "lua", "mode"), "generational", "and generational")
end)
