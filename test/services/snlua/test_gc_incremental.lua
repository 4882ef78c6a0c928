-- config: lua-test-gc
-- lua_gc_incremental_kb = 0: every service runs the incremental collector from its start, however
-- small, and stays on it.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    local s = skynet.newservice "helper_churn"
    t.eq(skynet.call(s, "lua", "mode"), "incremental", "a new small service")
    for _ = 1, 50 do skynet.call(s, "lua", "churn", 4) end
    t.eq(skynet.call(s, "lua", "mode"), "incremental", "still, after some garbage")
end)
