-- Calls routed on the socket thread (clusterlink's router): between two cluster services of one
-- process (nodes "a" and "b", real loopback TCP), a request in one frame goes straight to its
-- service on b and its answer straight to the caller on a, without a message to either link
-- (b's clusterbulk frames the answer); an answer for a caller that was killed while it waited,
-- or that gave up (calltimeout), goes nowhere and leaves nothing waiting; a callee that is dead
-- or dies before answering gets the caller an error; error answers and split answers still reach
-- their callers through the link.
local skynet = require "skynet"
local cluster = require "skynet.cluster"
local t = require "tlib"

t.run(function()
    local target = skynet.newservice "helper_cluster_target"
    skynet.name(".target", target)
    local b = skynet.newservice "clusterd"
    local baddr = skynet.call(b, "lua", "OPEN", { name = "b", listen = "127.0.0.1:0" })
    local aaddr = cluster.open { name = "a", listen = "127.0.0.1:0" }
    cluster.reload { b = baddr }
    skynet.call(b, "lua", "RELOAD", { a = aaddr })
    t.eq(cluster.call("b", ".target", "echo", 1), 1, "first call (the link comes up)")
    local link = skynet.call(skynet.uniqueservice "clusterd", "lua", "LINK", "b")
    local function waiting() return skynet.call(link, "lua", "STAT").pending end
    local function messages(l) return skynet.call(l, "debug", "STAT").message end
    local blink = skynet.call(b, "lua", "LINK", "a")

    -- 200 calls cost a's link its 200 requests (and the 2 STATs), not their answers too, and
    -- b's link nothing per call (a heartbeat tick every 250 ms at most)
    local before, bbefore = messages(link), messages(blink)
    for i = 1, 200 do t.eq(cluster.call("b", ".target", "echo", i), i, "call " .. i) end
    for i = 1, 50 do t.eq(cluster.call("b", target, "echo", i), i, "by handle " .. i) end
    local spent, bspent = messages(link) - before, messages(blink) - bbefore
    t.ok(spent < 300, string.format("a's link handled %d messages for 250 calls", spent))
    t.ok(bspent < 50, string.format("b's link handled %d messages for 250 calls", bspent))

    -- a dead callee, and one that dies before answering
    local doomed = skynet.newservice "helper_cluster_target"
    t.eq(cluster.call("b", doomed, "echo", 1), 1, "a second target answers")
    skynet.kill(doomed)
    t.raises({ skynet.address(doomed) .. " is dead" }, cluster.call, "b", doomed, "echo", 2)
    local dying = skynet.newservice "helper_cluster_target"
    skynet.fork(function()
        t.wait_until(function() return waiting() == 1 end, 300, "the call to the dying one waits")
        skynet.kill(dying)
    end)
    t.raises({ skynet.address(dying) .. " is dead or exited before answering" }, cluster.call, "b",
        dying, "sleep", 100, "never")

    -- error answers and answers split in parts still come through the link
    t.raises({ "kaboom" }, cluster.call, "b", ".target", "boom", "kaboom")
    t.eq(#cluster.call("b", ".target", "blob", 300000), 300000, "a split answer")

    -- a caller killed while its call waits: the answer goes nowhere, nothing stays waiting
    local caller = skynet.newservice "helper_cluster_target"
    local outcome = nil
    skynet.fork(function()
        outcome = table.pack(pcall(skynet.call, caller, "lua", "relay", "b", ".target", "sleep",
            20, "for a dead caller"))
    end)
    t.wait_until(function() return waiting() == 1 end, 300, "the relayed call waits")
    skynet.kill(caller)
    t.wait_until(function() return outcome ~= nil end, 300, "the relay's caller is told")
    t.ok(not outcome[1], "the relay failed: " .. tostring(outcome[2]))
    t.wait_until(function() return waiting() == 0 end, 300, "its answer came and went")
    t.eq(cluster.call("b", ".target", "echo", "after"), "after", "the link goes on")

    -- a caller that gave up: its late answer is not taken for its next call's
    t.raises({ "timed out after 50 ms" }, cluster.calltimeout, 50, "b", ".target", "sleep", 20,
        "stale")
    t.eq(cluster.call("b", ".target", "sleep", 40, "fresh"), "fresh", "the next call's answer")
    t.eq(waiting(), 0, "nothing waits")
end)
