-- config: nodes-cluster-test
-- Three nodes in three processes and a Redis (with_nodes starts b and c with helper_cluster_node
-- and a redis-server; this test is node a), linked with a secret, the node list kept in Redis:
-- calls, sends, proxies, registered names, errors, timeouts, large messages beside small ones,
-- across real processes, a second node named c refused; then b is killed with -9 while 64 coroutines call it (every pending call
-- fails within 1 s with the connection-lost error, the membership drops b within its TTL), c is
-- stopped with SIGSTOP (its pending calls fail within the peer timeout), and b, restarted with
-- the same name, gets a new epoch and serves again; c's clean leave is seen at once, and so is
-- b's SIGTERM.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local cluster = require "skynet.cluster"
local t = require "tlib"

local function lost(node)
    return "node " .. node .. ": connection lost: may or may not have executed"
end

-- Starts n calls of cluster.call(node, ...) in forks. -> a table that fills with
-- {ok, text, ms} per call, and the number done (results.done).
local function calls(n, node, ...)
    local results = { done = 0 }
    local args = table.pack(...)
    for i = 1, n do
        skynet.fork(function()
            local ok, err = pcall(cluster.call, node, table.unpack(args, 1, args.n))
            results[i] = { ok = ok, text = err, at = skynet.hpc() }
            results.done = results.done + 1
        end)
    end
    return results
end

t.run(function()
    local ctl = redis.connect { port = tonumber(os.getenv "SKYHIVE_TEST_NODES_PORT"),
        timeout = 60000 }
    local changes = {}
    cluster.watch(function(what, node) changes[#changes + 1] = what .. " " .. node.name end)
    cluster.open()
    t.wait_until(function() return #cluster.nodes() == 3 end, 500, "a, b and c in the membership")

    -- a second live node named c is refused (after waiting 1.5 TTL for c's record to expire)
    local twin = skynet.newservice "clusterd"
    t.raises({ "node name c is already live at 127.0.0.1:" .. os.getenv "SKYHIVE_TEST_NODE_C_PORT" },
        skynet.call, twin, "lua", "OPEN", { name = "c", listen = "127.0.0.1:0" })

    -- each node answers as itself, by name, registered name and handle
    for _, n in ipairs { "b", "c" } do
        t.eq(cluster.call(n, ".target", "node"), n, "call to " .. n)
        t.eq(cluster.call(n, "@tgt", "node"), n, "registered name on " .. n)
        local h = cluster.query(n, "tgt")
        t.eq(cluster.call(n, h, "node"), n, "handle on " .. n)
    end
    local echoed = table.pack(cluster.call("c", ".target", "echo", 1, nil, "x", { y = { 2 } }))
    t.eq(echoed.n, 4, "values")
    t.eq(echoed[4].y[1], 2, "nested table")
    t.raises({ "boom on c" }, cluster.call, "c", ".target", "boom", "boom on c")
    t.raises({ "service .none is dead" }, cluster.call, "b", ".none", "x")
    t.raises({ "unknown name @none" }, cluster.call, "b", "@none", "x")
    t.raises({ "unknown node z" }, cluster.call, "z", ".target", "x")
    t.raises({ "node b: call to .target timed out after 100 ms" }, cluster.calltimeout, 100, "b",
        ".target", "sleep", 50, 1)

    -- sends arrive in order, on each node
    for i = 1, 100 do
        cluster.send("b", ".target", "note", i)
        cluster.send("c", "@tgt", "note", -i)
    end
    t.eq(cluster.call("b", ".target", "count"), 100, "pushes to b")
    local on_c = table.pack(cluster.call("c", ".target", "notes"))
    for i = 1, 100 do t.eq(on_c[i], -i, "push order on c") end

    -- proxies
    local pb = cluster.proxy("b", ".target")
    local pc = cluster.proxy("c@tgt")
    t.eq(skynet.call(pb, "lua", "node"), "b", "proxy to b")
    t.eq(skynet.call(pc, "lua", "node"), "c", "proxy to c")
    skynet.send(pc, "lua", "note", 0)
    t.eq(skynet.call(pc, "lua", "count"), 101, "proxy send")
    t.raises({ "proxied boom" }, skynet.call, pb, "lua", "boom", "proxied boom")

    -- large messages beside small ones: while another service of this node sends 10 MB to b
    -- and gets 5 MB back, small calls to another service of b go on (they overtake the parts)
    local relay = skynet.newservice "helper_cluster_target"
    local big = string.rep("L", 10 * 1024 * 1024)
    local big_ok = false
    skynet.fork(function()
        t.eq(skynet.call(relay, "lua", "relay", "b", ".target", "size", big), #big, "10 MB to b")
        t.eq(#skynet.call(relay, "lua", "relay", "b", ".target", "blob", 5 * 1024 * 1024),
            5 * 1024 * 1024, "5 MB back")
        big_ok = true
    end)
    local lat = {}
    while not big_ok do
        local t0 = skynet.hpc()
        t.eq(cluster.call("b", ".target2", "echo", "s"), "s", "small beside big")
        lat[#lat + 1] = (skynet.hpc() - t0) / 1e6
    end
    table.sort(lat)
    skynet.error(string.format("%d small calls beside 10 MB + 5 MB: p50 %.2f ms, p99 %.2f ms, "
        .. "max %.2f ms", #lat, lat[(#lat + 1) // 2], lat[math.ceil(#lat * 0.99)], lat[#lat]))
    t.ok(#lat >= 10, "small calls went on during the large ones: " .. #lat)
    t.raises({ "node c: message of", "larger than cluster_max_message (33554432)" }, cluster.call,
        "c", ".target", "size", string.rep("m", 32 * 1024 * 1024 + 1))

    -- kill -9 of b while 64 coroutines call it: all fail within 1 s of the kill
    local before = cluster.nodes()
    local epoch_b
    for _, n in ipairs(before) do if n.name == "b" then epoch_b = n.epoch end end
    t.ok(epoch_b, "b's epoch known")
    local r = calls(64, "b", ".target", "sleep", 1000, "late")
    -- and one whose argument is over 256 KB: the link's clusterbulk writes it, and it waits at
    -- the link like the others
    local rl = calls(1, "b", ".target", "sleep", 1000, string.rep("l", 300 * 1024))
    local clusterd = skynet.uniqueservice "clusterd"
    local function pending(node)
        return skynet.call(skynet.call(clusterd, "lua", "LINK", node), "lua", "STAT").pending
    end
    t.wait_until(function() return pending("b") == 65 end, 300, "65 calls waiting on b")
    t.eq(r.done + rl.done, 0, "65 calls waiting on b")
    local killed = skynet.hpc()
    t.eq(ctl:kill("b"), "OK", "kill -9 b")
    t.wait_until(function() return r.done == 64 and rl.done == 1 end, 200, "65 calls failed")
    local worst = 0
    r[65] = rl[1]
    for i = 1, 65 do
        t.ok(not r[i].ok and r[i].text:find(lost("b"), 1, true), "lost: " .. tostring(r[i].text))
        worst = math.max(worst, (r[i].at - killed) // 1000000)
    end
    skynet.error(string.format("65 calls to a killed node failed within %d ms", worst))
    t.ok(worst < 1000, "within 1 s")
    -- the membership drops b once its record expires (cluster_ttl 1000 ms after its last
    -- renewal, seen by the next poll at most ttl/3 later)
    local function listed(name)
        for _, n in ipairs(cluster.nodes()) do if n.name == name then return n end end
    end
    t.wait_until(function() return not listed("b") end, 300, "b left the membership")
    local gone_ms = (skynet.hpc() - killed) // 1000000
    skynet.error(string.format("b left the membership %d ms after kill -9 (ttl 1000 ms)", gone_ms))
    t.ok(gone_ms <= 1500, "within the TTL and a poll: " .. gone_ms)
    t.raises({ "unknown node b" }, cluster.call, "b", ".target", "node")
    t.eq(cluster.call("c", ".target", "node"), "c", "c still served")

    -- SIGSTOP of c: its pending calls fail within the peer timeout (1 s) and a bit
    local rc = calls(8, "c", ".target", "sleep", 500, "never")
    t.wait_until(function() return pending("c") == 8 end, 300, "8 calls waiting on c")
    t.eq(ctl:stop("c"), "OK", "SIGSTOP c")
    local rs = calls(8, "c", ".target", "echo", "stopped")
    local stopped = skynet.hpc()
    t.wait_until(function() return rs.done == 8 end, 300, "calls to a stopped node failed")
    for i = 1, 8 do
        t.ok(not rs[i].ok and rs[i].text:find(lost("c"), 1, true), "lost: " .. tostring(rs[i].text))
    end
    skynet.error(string.format("calls to a stopped node failed after %d ms",
        (rs[8].at - stopped) // 1000000))
    t.eq(ctl:cont("c"), "OK", "SIGCONT c")
    t.wait_until(function() return rc.done == 8 end, 300, "the earlier calls ended")
    for i = 1, 8 do
        t.ok(not rc[i].ok and rc[i].text:find(lost("c"), 1, true), "lost: " .. tostring(rc[i].text))
    end
    -- (c may have left the membership meanwhile: it renews again once continued)
    t.wait_until(function()
        local ok, who = pcall(cluster.call, "c", ".target", "node")
        return ok and who == "c"
    end, 500, "c serves again after SIGCONT")

    -- b restarted with the same name: a new epoch, and it serves again
    t.eq(ctl:restart("b"), "OK", "restart b")
    t.wait_until(function()
        local ok, who = pcall(cluster.call, "b", ".target", "node")
        return ok and who == "b"
    end, 1000, "b serves after restart")
    local epoch2 = listed("b").epoch
    t.ok(tonumber(epoch2) > tonumber(epoch_b), "a new, larger epoch: " .. tostring(epoch_b) ..
        " -> " .. tostring(epoch2))
    t.eq(cluster.call("b", ".target", "count"), 0, "a new process")
    -- a clean stop (cluster.leave) removes c from the membership at once, not after the TTL
    local left_at = skynet.hpc()
    cluster.send("c", ".target", "leave")
    t.wait_until(function() return not listed("c") end, 100, "c left at once")
    local left_ms = (skynet.hpc() - left_at) // 1000000
    skynet.error(string.format("c left the membership %d ms after cluster.leave", left_ms))
    t.ok(left_ms < 500, "a clean leave is seen before the TTL: " .. left_ms)

    -- any node's clean stop (SIGTERM: b runs no game, nothing of its own calls cluster.leave)
    -- removes its record before the process exits: the record is gone when TERM is answered,
    -- where without the leave it would live on for up to cluster_ttl (1000 ms)
    local rconfig = require "skynet.db.redis.config"
    local mship = require "skynet.cluster.membership"
    local m = mship.new { client = rconfig.connect(rconfig.options()), name = "a",
        address = "-:0", ttl = 1000 }
    local function recorded(name)
        for _, rec in ipairs(m:list()) do if rec.name == name then return rec end end
    end
    t.ok(recorded("b"), "b in the membership before its stop")
    local termed_at = skynet.hpc()
    t.eq(ctl:term("b"), "OK", "SIGTERM b")
    t.eq(recorded("b"), nil, "b's record is gone once b has exited")
    t.wait_until(function() return not listed("b") end, 50, "a sees b leave at once")
    skynet.error(string.format("b left the membership %d ms after SIGTERM",
        (skynet.hpc() - termed_at) // 1000000))
    local seen = table.concat(changes, ", ")
    t.ok(seen:find("leave b", 1, true) and seen:find("leave b, join b", 1, true)
        or seen:find("join b", seen:find("leave b", 1, true), true), "watch saw b leave and join: "
        .. seen)
end, 12000)
