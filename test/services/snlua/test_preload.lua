-- config: lua-test-preload
-- The preload file runs before the script, with the script's arguments.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    t.ok(PRELOADED_ARGS, "preload ran in this service")
    t.eq(PRELOADED_ARGS.n, 0, "no arguments here")
    local h = skynet.newservice("helper_args", "x", "y")
    local r = table.pack(skynet.call(h, "lua"))
    t.eq(r[3] .. r[4], "xy", "the script still gets its arguments")
end)
