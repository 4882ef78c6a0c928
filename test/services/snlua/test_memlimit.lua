-- skynet.memlimit: allocations past the limit fail with a Lua memory error in the handler that
-- made them; the service keeps running and its memory stays under the limit.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    local m = skynet.newservice "helper_memory"
    t.eq(skynet.call(m, "lua", "alloc", 1024 * 1024), 1024 * 1024, "1 MB under a 4 MB limit")
    t.raises({ "call to " .. skynet.address(m) .. " failed", "not enough memory" },
        skynet.call, m, "lua", "alloc", 8 * 1024 * 1024)
    t.eq(skynet.call(m, "lua", "alloc", 1000), 1000, "the service survives a memory error")
    t.eq(skynet.call(m, "lua", "free"), true, "free")
    local limit, used = skynet.call(m, "lua", "limit")
    t.eq(limit, 4 * 1024 * 1024, "limit reported back")
    t.ok(used > 0 and used < limit, "memory in use " .. tostring(used) .. " is under the limit")

    -- This service has no limit; its own accounting is visible through stat.
    collectgarbage()
    local before = skynet.stat "memory"
    local big = string.rep("y", 2 * 1024 * 1024)
    t.ok(skynet.stat "memory" >= before + #big, "stat memory counts a 2 MB string")
    big = nil
    collectgarbage()
    t.ok(skynet.stat "memory" < before + 1024 * 1024, "memory returns after collection")
end)
