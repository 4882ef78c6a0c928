-- The cluster links' metrics and the "cluster" board, across a real link between two cluster
-- services of one process (nodes a and b): calls and pushes sent and served, an error answer,
-- bytes both ways, the link up and then down, and each node's view of the other on the board.
local skynet = require "skynet"
local cluster = require "skynet.cluster"
local metrics = require "skynet.metrics"
local t = require "tlib"
local m = require "metrics_lib"

local AB = { node = "a", peer = "b" }
local BA = { node = "b", peer = "a" }

t.run(function()
    local echo = skynet.newservice "helper_cluster_target"
    local b = skynet.newservice "clusterd"
    local baddr = skynet.call(b, "lua", "OPEN", { name = "b", listen = "127.0.0.1:0" })
    local aaddr = cluster.open { name = "a", listen = "127.0.0.1:0" }
    cluster.reload { b = baddr }
    skynet.call(b, "lua", "RELOAD", { a = aaddr })
    skynet.call(b, "lua", "REGISTER", "target", echo)

    local entry = metrics.board("cluster").b
    t.ok(entry, "node b is on the board")
    t.eq(entry.address, baddr, "at its address")
    t.eq(entry.link, "down", "no link yet")

    for i = 1, 3 do t.eq(cluster.call("b", "@target", "echo", i), i, "call " .. i) end
    cluster.send("b", "@target", "echo", 4)
    t.raises({ "unknown name @nobody" }, cluster.call, "b", "@nobody", "echo", 5)
    t.eq(m.value("skyhive_cluster_requests_sent_total", AB), 5, "a sent 5 requests")
    t.eq(m.value("skyhive_cluster_requests_served_total", BA), 5, "b was asked 5")
    t.eq(m.value("skyhive_cluster_errors_total", AB), 1, "one error answer")
    t.eq(m.value("skyhive_cluster_link_up", AB), 1, "a's link to b is up")
    t.eq(m.value("skyhive_cluster_link_up", BA), 1, "b's link to a is up")
    local out, back = m.value("skyhive_cluster_sent_bytes_total", AB),
        m.value("skyhive_cluster_received_bytes_total", BA)
    t.ok(out > 0 and back >= out, string.format("bytes: a wrote %d, b read %d", out, back))

    -- The board: clusterd hears of the link from the link service.
    t.wait_until(function()
        local e = metrics.board("cluster").b
        return e and e.link == "up"
    end, 300, "a's view of b: up")
    local e = metrics.board("cluster").b
    t.ok(e.up_since and math.abs(e.up_since - skynet.time() * 1000) < 10000, "up since, in ms")

    -- b closes its link: a's goes down.
    skynet.call(skynet.call(b, "lua", "LINK", "a"), "lua", "CLOSE")
    t.wait_until(function() return m.value("skyhive_cluster_link_up", AB) == 0 end, 300,
        "a's link down")
    t.eq(m.value("skyhive_cluster_link_downs_total", AB), 1, "one down")
    t.wait_until(function()
        local x = metrics.board("cluster").b
        return x and x.link == "down" and x.up_since == nil
    end, 300, "a's view of b: down")
    local clean, complaints = m.promtool()
    t.ok(clean, "promtool check metrics: " .. complaints)
end)
