-- The calling side's answers on the socket thread (clusterlink's router): between two cluster
-- services of one process (nodes "a" and "b", real loopback TCP), an answer in one frame goes
-- straight to its caller, without a message to the link; an answer for a caller that was killed
-- while it waited, or that gave up (calltimeout), goes nowhere and leaves nothing waiting; error
-- answers and split answers still reach their callers through the link.
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
    local function messages() return skynet.call(link, "debug", "STAT").message end

    -- 200 calls cost the link its 200 requests (and the 2 STATs), not their answers too
    local before = messages()
    for i = 1, 200 do t.eq(cluster.call("b", ".target", "echo", i), i, "call " .. i) end
    local spent = messages() - before
    t.ok(spent < 250, string.format("the link handled %d messages for 200 calls", spent))

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
