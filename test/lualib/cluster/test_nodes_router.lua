-- The calling side's answers on the socket thread (clusterlink's router): between two cluster
-- services of one process (nodes "a" and "b", real loopback TCP), an answer in one frame goes
-- straight to its caller, without a message to the link; an answer for a caller that was killed
-- while it waited, or that gave up (calltimeout), goes nowhere and leaves nothing waiting; error
-- answers and split answers still reach their callers through the link. A call with nothing
-- else in flight takes the links' direct path both ways (request written, handed to the callee
-- and answered without the links' Lua), and pushes and calls of one caller keep their order
-- whichever path each takes.
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

    local blink = skynet.call(b, "lua", "LINK", "a")
    local function direct()
        local sa, sb = skynet.call(link, "lua", "STAT"), skynet.call(blink, "lua", "STAT")
        return sa.direct_requests, sb.direct_answers, sb.direct_served
    end

    -- 200 calls cost the link its 200 requests (and the 2 STATs), not their answers too; one at
    -- a time, the requests leave a's link, reach .target from b's link and are answered by the
    -- direct path
    local requests0, answers0, served0 = direct()
    local before = messages()
    for i = 1, 200 do t.eq(cluster.call("b", ".target", "echo", i), i, "call " .. i) end
    local spent = messages() - before
    t.ok(spent < 250, string.format("the link handled %d messages for 200 calls", spent))
    local requests1, answers1, served1 = direct()
    t.ok(requests1 - requests0 >= 190, "direct requests: " .. (requests1 - requests0))
    t.ok(served1 - served0 >= 190, "direct served: " .. (served1 - served0))
    t.ok(answers1 - answers0 >= 190, "direct answers: " .. (answers1 - answers0))

    -- a push and a call to a dead handle, one at a time (so through b's direct path): the push
    -- is dropped there with a log line, the call fails naming the service, the link goes on
    local gone = skynet.newservice "helper_cluster_target"
    skynet.kill(gone)
    cluster.send("b", gone, "note", 1)
    t.raises({ "service " .. skynet.address(gone) .. " is dead" }, cluster.call, "b", gone, "echo")
    t.eq(cluster.call("b", ".target", "echo", "still"), "still", "the link goes on")
    requests1 = direct()

    -- Senders in this service push marks 1..200 and every 5th time call for the last mark
    -- .target saw from them. Sender 1 alone, yielding after each push but those followed by a
    -- call: a push alone in the link's mailbox leaves by the direct path, a push and a call sent
    -- together are gathered by the link's Lua. Then senders 2..9 at once: with the others' calls in flight, mostly the Lua.
    -- Each sender's marks arrive in order across both paths.
    local misordered = 0
    local function sender(c, yields)
        for i = 1, 200 do
            cluster.send("b", ".target", "mark", c, i)
            if yields and i % 5 ~= 0 then skynet.yield() end
            if i % 5 == 0 then
                local last, bad = cluster.call("b", ".target", "marked", c)
                if last ~= i then misordered = misordered + 1 end
                misordered = math.max(misordered, bad)
            end
        end
    end
    sender(1, true)
    local requests2 = direct()
    -- (how many go direct depends on whether the link ran before the next message came)
    t.ok(requests2 - requests1 > 0, "sender 1's direct requests: " .. (requests2 - requests1))
    local left, all_done = 8, {}
    for c = 2, 9 do
        skynet.fork(function()
            sender(c, false)
            left = left - 1
            if left == 0 then skynet.wakeup(all_done) end
        end)
    end
    skynet.wait(all_done)
    t.eq(misordered, 0, "marks out of order")
    local requests3 = direct()
    t.ok(requests3 - requests1 < 9 * 240, "some requests went through the link's Lua: direct "
        .. (requests3 - requests1) .. " of " .. 9 * 240)

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
