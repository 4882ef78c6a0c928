-- config: lua-test-sentinel
-- A node on config/sentinel.lua's search paths runs one sentinel watcher, whatever the number of
-- services with Sentinel clients: the sentinel_watcher service is found on the shipped path, so
-- no service falls back to watching the sentinels itself.
local skynet = require "skynet"
local t = require "tlib"

local function watchers()
    local n = 0
    for _, what in pairs(skynet.call(".launcher", "lua", "LIST")) do
        if what:match("^snlua sentinel_watcher") then n = n + 1 end
    end
    return n
end

t.run(function()
    t.eq(watchers(), 0, "no watcher before the first client")
    local clients = {}
    for i = 1, 4 do
        clients[i] = skynet.newservice("helper_sentinel_client")
        t.eq(skynet.call(clients[i], "lua", "use", "k" .. i), tostring(clients[i]),
            "service " .. i .. " reads its write through Sentinel")
    end
    t.eq(watchers(), 1, "one sentinel_watcher service for 4 services with clients")
    for i = 1, 4 do skynet.kill(clients[i]) end
end)
