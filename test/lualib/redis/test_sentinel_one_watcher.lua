-- config: lua-test-sentinel
-- A node on config/sentinel.lua's search paths runs one sentinel watcher, whatever the number of
-- services with Sentinel clients: the sentinel_watcher service is found on the shipped path, so
-- no service falls back to watching the sentinels itself. Within a watcher, clients that
-- register at once share one group, which counts each of them.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local sentinel_watcher = require "skynet.db.redis.sentinel_watcher"

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

    -- Two registrations while the group's first resolution runs: one group, two clients, so
    -- that the release of one leaves it running for the other.
    local w = sentinel_watcher.new()
    local spec = { sentinels = lab.sentinels, master = lab.name }
    local ids = {}
    for i = 1, 2 do skynet.fork(function() ids[i] = w:register(spec) end) end
    t.wait_until(function() return ids[1] and ids[2] end, 300, "both registered")
    t.eq(ids[1], ids[2], "one group")
    local g = w.by_id[ids[1]]
    t.eq(g.refs, 2, "clients of the group")
    w:release(ids[1])
    t.eq(g.refs, 1, "clients after one release")
    w:release(ids[2])
    t.eq(g.refs, 0, "clients after both releases")
end)
