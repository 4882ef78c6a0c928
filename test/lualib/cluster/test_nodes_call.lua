-- skynet.cluster between two cluster services of one process (nodes "a" and "b", each its own
-- clusterd with its own listener and links, over real loopback TCP): call, send, errors, proxy,
-- register/query, calltimeout, large messages beside small ones, a dropped link failing its
-- pending calls at once, an unknown node, a message over cluster_max_message, reloads of the
-- node list, two nodes dialing each other at once.
local skynet = require "skynet"
local socket = require "skynet.socket"
local cluster = require "skynet.cluster"
local t = require "tlib"

local LOST = "node b: connection lost: may or may not have executed"

t.run(function()
    local target = skynet.newservice "helper_cluster_target"
    skynet.name(".target", target)

    local b = skynet.newservice "clusterd"
    local baddr = skynet.call(b, "lua", "OPEN", { name = "b", listen = "127.0.0.1:0",
        max_message = 4 * 1024 * 1024 })
    local aaddr = cluster.open { name = "a", listen = "127.0.0.1:0",
        max_message = 4 * 1024 * 1024 }
    cluster.reload { b = baddr }
    skynet.call(b, "lua", "RELOAD", { a = aaddr })

    -- call: every value back, nil holes and all
    local r = table.pack(cluster.call("b", ".target", "echo", 1, nil, "two", 3.5, { x = 1 }))
    t.eq(r.n, 5, "values returned")
    t.eq(r[1], 1, "integer")
    t.eq(r[2], nil, "hole")
    t.eq(r[3], "two", "string")
    t.eq(r[5].x, 1, "table")
    t.eq(select("#", cluster.call("b", ".target", "echo")), 0, "no values")
    t.eq(cluster.call("b", target, "echo", "by handle"), "by handle", "address by handle")

    -- the callee's error text reaches the caller, without a wrapper
    local err = t.raises({ "kaboom" }, cluster.call, "b", ".target", "boom", "kaboom")
    t.ok(not err:find("call to", 1, true), "no skynet.call wrapper: " .. err)
    t.raises({ "service .nobody is dead" }, cluster.call, "b", ".nobody", "echo")
    t.raises({ "unknown name @nobody" }, cluster.call, "b", "@nobody", "echo")
    -- a dead handle on the peer, and a callee that ends while serving: each says so, naming the
    -- service, and neither reads as the caller's own link being gone ("unknown node b")
    local gone = skynet.newservice "helper_cluster_target"
    skynet.kill(gone)
    local dead_text = "service " .. skynet.address(gone) .. " is dead"
    err = t.raises({ dead_text }, cluster.call, "b", gone, "echo")
    t.ok(not err:find("unknown node", 1, true), "a dead handle on b is not an unknown node: " .. err)
    local quitter = skynet.newservice "helper_cluster_target"
    err = t.raises({ "service " .. skynet.address(quitter) .. " exited before answering" },
        cluster.call, "b", quitter, "quit")
    t.ok(not err:find("unknown node", 1, true), "a callee's exit is not an unknown node: " .. err)
    t.eq(cluster.call("b", ".target", "echo", "after"), "after", "the link still serves")
    t.raises({ "unknown node zz" }, cluster.call, "zz", ".target", "echo")
    -- the error names the caller's line
    local ok, where = pcall(function() cluster.call("zz", ".target") end)
    t.ok(not ok and where:match("test_nodes_call%.lua:%d+: unknown node zz$"), "error level: " .. where)

    -- send: in order, before a later call
    for i = 1, 50 do cluster.send("b", ".target", "note", i) end
    local notes = table.pack(cluster.call("b", ".target", "notes"))
    t.eq(notes.n, 50, "pushes arrived")
    for i = 1, 50 do t.eq(notes[i], i, "push order") end

    -- register (on b) and query (from a)
    skynet.call(b, "lua", "REGISTER", "tgt", target)
    t.eq(cluster.query("b", "tgt"), target, "query")
    t.eq(cluster.call("b", "@tgt", "echo", "named"), "named", "call by registered name")
    t.raises({ "unknown name @nope on node b" }, cluster.query, "b", "nope")

    -- proxy: plain skynet.call and skynet.send through a local address
    local p = cluster.proxy("b", ".target")
    t.eq(skynet.call(p, "lua", "echo", "via proxy", 2), "via proxy", "proxy call")
    t.eq(cluster.proxy("b", ".target"), p, "one proxy per node and address")
    skynet.send(p, "lua", "note", 51)
    t.eq(skynet.call(p, "lua", "count"), 51, "proxy send (ordered with calls through the proxy)")
    t.raises({ "kaboom2" }, skynet.call, p, "lua", "boom", "kaboom2")
    local p2 = cluster.proxy("b@tgt")
    t.eq(skynet.call(p2, "lua", "echo", 3), 3, "proxy of node@name")

    -- calltimeout: gives up, and the link stays usable
    t.raises({ "node b: call to .target timed out after 50 ms" }, cluster.calltimeout, 50, "b",
        ".target", "sleep", 100, 1)
    t.eq(cluster.calltimeout(1000, "b", ".target", "sleep", 1, "in time"), "in time", "in time")

    -- large messages beside small ones: small calls are not held behind 3 MB going out
    local big = string.rep("y", 3 * 1024 * 1024)
    local big_done, small_done, small_max = false, 0, 0
    skynet.fork(function()
        t.eq(cluster.call("b", ".target", "size", big), #big, "3 MB request")
        big_done = true
    end)
    for _ = 1, 20 do
        skynet.fork(function()
            local t0 = skynet.hpc()
            t.eq(cluster.call("b", ".target", "echo", "small"), "small", "small beside big")
            small_max = math.max(small_max, (skynet.hpc() - t0) // 1000000)
            small_done = small_done + 1
        end)
    end
    t.wait_until(function() return big_done and small_done == 20 end, 1000, "big and small")
    skynet.error(string.format("small calls beside a 3 MB one: slowest %d ms", small_max))
    t.eq(#cluster.call("b", ".target", "blob", 2 * 1024 * 1024 + 7), 2 * 1024 * 1024 + 7,
        "2 MB answer")
    t.raises({ "node b: message of", "is larger than cluster_max_message (4194304)" },
        cluster.call, "b", ".target", "size", string.rep("z", 4 * 1024 * 1024 + 1))
    t.raises({ "larger than cluster_max_message" }, cluster.call, "b", ".target", "blob",
        4 * 1024 * 1024 + 1)
    t.eq(cluster.call("b", ".target", "echo", "after"), "after", "link usable after refusals")

    -- a dropped link fails every pending call at once; the next call dials again
    local failed, texts = 0, {}
    for i = 1, 16 do
        skynet.fork(function()
            local okc, e = pcall(cluster.call, "b", ".target", "sleep", 1000, i)
            t.ok(not okc, "pending call failed")
            texts[#texts + 1] = e
            failed = failed + 1
        end)
    end
    local alink = skynet.call(skynet.uniqueservice "clusterd", "lua", "LINK", "b")
    t.wait_until(function() return skynet.call(alink, "lua", "STAT").pending == 16 end, 200,
        "16 calls pending on the link")
    local t0 = skynet.now()
    local blink = skynet.call(b, "lua", "LINK", "a")
    skynet.call(blink, "lua", "CLOSE")
    t.wait_until(function() return failed == 16 end, 100, "pending calls failed")
    t.ok(skynet.now() - t0 < 100, "failed within 1 s")
    for i = 1, 16 do t.ok(texts[i]:find(LOST, 1, true), "connection lost text: " .. texts[i]) end
    t.eq(cluster.call("b", ".target", "echo", "again"), "again", "redialed")

    t.raises({ "cluster.open: unknown option colour" }, cluster.open, { colour = "red" })
    t.raises({ "cluster.open: option heartbeat: a number expected, got fast" }, cluster.open,
        { heartbeat = "fast" })

    -- this node itself (as in skynet): calls go straight to the service, with the same texts
    cluster.register("self_tgt", target)
    t.eq(cluster.call("a", ".target", "echo", "me"), "me", "call to this node")
    t.eq(cluster.call("a", "@self_tgt", "echo", "me2"), "me2", "registered name on this node")
    t.eq(cluster.query("a", "self_tgt"), target, "query on this node")
    t.eq(cluster.calltimeout(500, "a", target, "echo", 3), 3, "calltimeout on this node")
    t.raises({ "kaboom3" }, cluster.call, "a", ".target", "boom", "kaboom3")
    t.raises({ "service .nobody is dead" }, cluster.call, "a", ".nobody", "echo")
    t.raises({ "unknown name @nobody" }, cluster.call, "a", "@nobody", "echo")
    t.eq(cluster.proxy("a", ".target"), target, "a proxy on this node is the service")

    -- reload: a node removed fails its calls with "unknown node", and serves again when listed
    -- again (here at the same address)
    cluster.reload {}
    t.raises({ "unknown node b" }, cluster.call, "b", ".target", "echo", 1)
    t.eq(#cluster.nodes(), 0, "no node listed")
    cluster.reload { b = baddr }
    t.eq(cluster.call("b", ".target", "echo", "back"), "back", "listed again")

    -- both ends dial at once: one connection stays (the one dialed by x, whose name sorts
    -- first) and every call of both directions is served on it
    local x = skynet.newservice "clusterd"
    local y = skynet.newservice "clusterd"
    local xaddr = skynet.call(x, "lua", "OPEN", { name = "x", listen = "127.0.0.1:0" })
    local yaddr = skynet.call(y, "lua", "OPEN", { name = "y", listen = "127.0.0.1:0" })
    skynet.call(x, "lua", "RELOAD", { y = yaddr })
    skynet.call(y, "lua", "RELOAD", { x = xaddr })
    local xy = skynet.call(x, "lua", "LINK", "y")
    local yx = skynet.call(y, "lua", "LINK", "x")
    local crossed = 0
    for i = 1, 20 do
        skynet.fork(function()
            local l = i % 2 == 0 and xy or yx
            t.eq(skynet.call(l, "cluster", ".target", "echo", i), i, "crossing call " .. i)
            crossed = crossed + 1
        end)
    end
    t.wait_until(function() return crossed == 20 end, 500, "calls over crossing dials")
    local xport = tonumber(xaddr:match(":(%d+)$"))
    local yport = tonumber(yaddr:match(":(%d+)$"))
    local dialed = 0
    for _, st in ipairs(socket.netstat()) do
        if st.type == "tcp" and (st.port == xport or st.port == yport) then dialed = dialed + 1 end
    end
    t.eq(dialed, 1, "one connection between x and y")
    local sx, sy = skynet.call(xy, "lua", "STAT"), skynet.call(yx, "lua", "STAT")
    t.ok(sx.up and sy.up, "both links up")
    skynet.error(string.format("crossing dials resolved: x %d, y %d", sx.crossings, sy.crossings))

    -- many callers asking at once for the link to a node not linked yet get one link: making it
    -- yields, and a second link to one node would replace the first one's connection
    local z = skynet.newservice "clusterd"
    skynet.call(z, "lua", "OPEN", { name = "z", listen = "127.0.0.1:0", nodes = { y = yaddr } })
    local handles, asked = {}, 0
    for i = 1, 30 do
        skynet.fork(function()
            handles[i] = skynet.call(z, "lua", "LINK", "y")
            asked = asked + 1
        end)
    end
    t.wait_until(function() return asked == 30 end, 500, "links asked for at once")
    for i = 2, 30 do t.eq(handles[i], handles[1], "one link for every caller " .. i) end

    -- the node list
    local nodes = cluster.nodes()
    t.eq(#nodes, 1, "one node known")
    t.eq(nodes[1].name, "b", "node b listed")
    t.eq(nodes[1].address, baddr, "its address")
    t.ok(nodes[1].epoch, "its epoch is known once linked")
    skynet.error(string.format("a at %s, b at %s", aaddr, baddr))
end)
