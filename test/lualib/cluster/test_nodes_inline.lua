-- config: nodes-cluster-test
-- Cluster calls between services that run on the socket thread (socket.inline), as the links
-- always do, between two processes (node b started by with_nodes): the caller gets its answers
-- there (routed by the framer in the middle of a read), its next calls go to the link from there,
-- and the callee answers there. 64 coroutines call at once, round after round, then one: every
-- answer is the right one, none is lost, the link never drops, and the work did run inline.
-- Then one coroutine calls without a pause for 2.5 s, past the peer timeout: the link stays up.
local skynet = require "skynet"
local socket = require "skynet.socket"
local cluster = require "skynet.cluster"
local t = require "tlib"

-- On a slow build (a sanitizer's) fewer coroutines: with 64 the caller is busy on the workers
-- whenever a burst of answers comes, so that hardly any runs on the socket thread.
local COROUTINES, ROUNDS = math.max(8, 64 // t.slowdown), 300

t.run(function()
    cluster.open()
    t.wait_until(function() return #cluster.nodes() == 2 end, 500, "a and b in the membership")
    t.eq(cluster.call("b", ".target", "inline", true), false, "b's .target opts in")
    socket.inline(true)
    t.eq(cluster.call("b", ".target", "echo", "first"), "first", "the link is up")

    local before = skynet.stat("inline")
    local left, wrong = COROUTINES, 0
    local done = {}
    for c = 1, COROUTINES do
        skynet.fork(function()
            for r = 1, ROUNDS do
                local v = c * 1000 + r
                if cluster.call("b", ".target", "echo", v) ~= v then wrong = wrong + 1 end
            end
            left = left - 1
            if left == 0 then skynet.wakeup(done) end
        end)
    end
    skynet.wait(done)
    t.eq(wrong, 0, "answers that were not the caller's own")
    -- Answers come in bursts; the first of a burst runs there, the rest wait for a worker.
    t.ok(skynet.stat("inline") - before > ROUNDS,
        "answers ran on the socket thread: " .. (skynet.stat("inline") - before))

    -- One coroutine, one call at a time: the answers run on the socket thread (all but the odd
    -- one that finds the link still busy with the last round's traffic).
    before = skynet.stat("inline")
    for i = 1, 200 do t.eq(cluster.call("b", ".target", "echo", i), i, "call " .. i) end
    t.ok(skynet.stat("inline") - before >= 190,
        "one at a time, all inline: " .. (skynet.stat("inline") - before))

    -- Calls without a pause for more than twice cluster_peer_timeout (1 s here): no PING goes
    -- out on a busy link and the answers pass the link's service by, so its heartbeat asks the
    -- socket table when the link last read, from wherever it runs (the socket thread, too).
    -- The link stays up.
    local calls, deadline = 0, skynet.hpc() + 2500 * 1000000
    while skynet.hpc() < deadline do
        calls = calls + 1
        local ok, v = pcall(cluster.call, "b", ".target", "echo", calls)
        t.ok(ok and v == calls, string.format("call %d of a busy link, %.1f s in: %s", calls,
            (skynet.hpc() - deadline) / 1e9 + 2.5, tostring(v)))
    end
    -- The link was kept busy: every call above answered, and they came back to back (a fifth
    -- as many under a sanitizer's slowdown: TSan beside other tests made 970).
    t.ok(calls > 1000 // t.slowdown, "calls during the 2.5 s: " .. calls)
end, 3000)
