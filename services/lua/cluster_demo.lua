-- Two or more nodes calling each other (config/cluster-a.lua, config/cluster-b.lua; README,
-- "Cluster"): each node serves "@demo" and, every second, calls "@demo" on every other node it
-- knows, logging the answer or the error (a stopped, killed or restarted peer shows what callers
-- see). Runs main.lua's services (debug console, echo) first.
local skynet = require "skynet"
local cluster = require "skynet.cluster"

local me
local served = 0

skynet.start(function()
    skynet.newservice "main"
    skynet.dispatch("lua", function(_, _, cmd, from, n)
        assert(cmd == "hello", "unknown command")
        served = served + 1
        skynet.retpack(string.format("%s got hello #%d from %s (%d served)", me, n, from, served))
    end)
    cluster.register("demo")
    cluster.open()
    me = skynet.getenv "cluster_name"
    skynet.error(string.format("cluster_demo: node %s up; peers: %d", me, #cluster.nodes() - 1))
    cluster.watch(function(what, node)
        skynet.error(string.format("cluster_demo: node %s %s (%s)", node.name,
            what == "join" and "joined" or "left", tostring(node.address)))
    end)
    local i = 0
    skynet.fork(function()
        while true do
            skynet.sleep(100)
            i = i + 1
            for _, node in ipairs(cluster.nodes()) do
                if node.name ~= me then
                    local ok, answer = pcall(cluster.calltimeout, 2000, node.name, "@demo",
                        "hello", me, i)
                    skynet.error("cluster_demo: " .. tostring(answer))
                    if not ok then break end
                end
            end
        end
    end)
end)
