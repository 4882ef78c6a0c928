-- config: lua-test-loader
-- With lualoader set, every service starts through that file (this one included).
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    t.eq(LOADED_BY, "helper_loader", "this service was loaded by the custom loader")
    t.eq(SERVICE_NAME, "test_lualoader", "the loader set SERVICE_NAME")
    local h = skynet.newservice("helper_args", "a", "b")
    local r = table.pack(skynet.call(h, "lua"))
    t.eq(r[1], "helper_args", "child SERVICE_NAME")
    t.eq(r[3] .. r[4], "ab", "child arguments through the loader")
end)
