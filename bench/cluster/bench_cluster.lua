-- The skyhive side of bench/cluster/cluster_bench.sh: node-to-node calls (skynet.cluster)
-- between node a (the client) and node b (the server), both started by with_nodes on one
-- config; the role comes from the node's name ($SKYHIVE_TEST_NODE_NAME).
--   node b: serves ".bench" (small calls) and ".bulk" (large ones; a service of its own, so that
--           unpacking a large argument never holds a small call in the same mailbox), both this
--           script with the argument "echo", and serves the cluster; prints
--           "bench_cluster: serving" once it does (with_nodes --ready waits for it).
--   node a: bench_cluster <seconds>: measures, for <seconds> each, and prints one line a figure:
--     local.c1 <calls/s>        same-node skynet.call, 1 coroutine, 100-byte argument
--     local.c64 <calls/s>       the same with 64 coroutines
--     call.c1 <calls/s>         cluster.call to b's .bench, 1 coroutine, 100-byte argument
--     call.c64 <calls/s>        the same with 64 coroutines
--     call.mb1 <MB/s>           1 coroutine calling .bulk with a 1 MB (10^6 bytes) argument,
--                               answered with its length
--     call.during10mb <p50_ms> <p99_ms> <small calls> <10 MB transfers>
--                               1 coroutine's small calls, timed only while a 10 MB call to
--                               .bulk on the same node (the same link) is in flight; the 10 MB
--                               calls come back to back from another service of node a (this
--                               script with the argument "sender"), so that packing 10 MB never
--                               holds the small calls' own service: the figure is the link's
--   then stops its node (exit 0; a failed call stops it with 1 after printing the error).
local skynet = require "skynet"
require "skynet.manager"

local role = ...

local function echo_service()
    skynet.dispatch("lua", function(_, _, cmd, x)
        if cmd == "ping" then
            skynet.ret(skynet.pack(x))
        elseif cmd == "bulk" then
            skynet.ret(skynet.pack(#x))
        else
            error("bench_cluster: unknown command " .. tostring(cmd))
        end
    end)
end

if role == "echo" then
    skynet.start(echo_service)
    return
end

local cluster = require "skynet.cluster"

-- The 10 MB sender of call.during10mb (node a): "run" calls b's .bulk with 10 MB back to back,
-- telling the client "begin" and "end" around each call, until a "stop" arrives (and at least
-- 3 calls were made); it answers with the number of transfers.
if role == "sender" then
    local client = math.tointeger(tonumber((select(2, ...))))
    local big = string.rep("g", 10000000)
    local stop = false
    skynet.start(function()
        skynet.dispatch("lua", function(_, _, cmd)
            if cmd == "stop" then
                stop = true
                return
            end
            local transfers = 0
            while not stop or transfers < 3 do
                skynet.send(client, "lua", "begin")
                assert(cluster.call("b", ".bulk", "bulk", big) == #big)
                skynet.send(client, "lua", "end")
                transfers = transfers + 1
            end
            skynet.ret(skynet.pack(transfers))
        end)
    end)
    return
end
local name = assert(os.getenv "SKYHIVE_TEST_NODE_NAME", "SKYHIVE_TEST_NODE_NAME is not set")
local seconds = tonumber(role) or 2
local small = string.rep("x", 100)

-- cluster.open's options: this node's name and address, and the static list of both nodes at
-- the ports with_nodes gave them.
local function open_options()
    local list = {}
    for _, n in ipairs { "a", "b" } do
        local port = os.getenv("SKYHIVE_TEST_NODE_" .. n:upper() .. "_PORT")
        list[n] = "127.0.0.1:" .. assert(port, "no port for node " .. n .. " (run under with_nodes)")
    end
    return { name = name, listen = list[name], nodes = list }
end

-- Runs `n` coroutines calling `call()` until `secs` pass; -> calls per second. The first call
-- that fails stops them all and raises its error here (the bench fails instead of waiting).
local function rate(n, secs, call)
    local done, running, me, failed = 0, n, coroutine.running(), nil
    local deadline = skynet.hpc() + secs * 1e9
    local t0 = skynet.hpc()
    for _ = 1, n do
        skynet.fork(function()
            while not failed and skynet.hpc() < deadline do
                local ok, err = xpcall(call, debug.traceback)
                if not ok then failed = failed or err end
                done = done + 1
            end
            running = running - 1
            if running == 0 then skynet.wakeup(me) end
        end)
    end
    skynet.wait(me)
    if failed then error(failed, 0) end
    return done / ((skynet.hpc() - t0) / 1e9)
end

local function percentile(v, p)
    if #v == 0 then return 0 end
    table.sort(v)
    return v[math.min(#v, math.max(1, math.ceil(p * #v)))]
end

-- BENCH_FIGURES (a comma-separated subset of local,c1,c64,mb1,during10mb; default all) picks what
-- runs, for profiling one figure.
local figures = os.getenv "BENCH_FIGURES"
local function want(f)
    return not figures or figures == "" or (","..figures..","):find(","..f..",", 1, true)
end

local function client()
    cluster.open(open_options())
    local echo = skynet.newservice("bench_cluster", "echo")
    local function local_call() assert(skynet.call(echo, "lua", "ping", small) == small) end
    local function remote_call() assert(cluster.call("b", ".bench", "ping", small) == small) end
    remote_call() -- the link is up before anything is timed
    if want "local" then
        print(string.format("local.c1 %.0f", rate(1, seconds, local_call)))
        print(string.format("local.c64 %.0f", rate(64, seconds, local_call)))
    end
    if want "c1" then print(string.format("call.c1 %.0f", rate(1, seconds, remote_call))) end
    if want "c64" then print(string.format("call.c64 %.0f", rate(64, seconds, remote_call))) end

    if want "mb1" then
        local mb = string.rep("m", 1000000)
        local per_s = rate(1, seconds, function()
            assert(cluster.call("b", ".bulk", "bulk", mb) == #mb)
        end)
        print(string.format("call.mb1 %.0f", per_s * #mb / 1e6))
    end
    if not want "during10mb" then return end

    -- Small calls while 10 MB calls of the sender service cross the same link back to back.
    local in_flight, transfers, sender_done = false, nil, false
    skynet.dispatch("lua", function(_, _, cmd) in_flight = cmd == "begin" end)
    local sender = skynet.newservice("bench_cluster", "sender", skynet.self())
    skynet.fork(function()
        transfers = skynet.call(sender, "lua", "run")
        sender_done = true
    end)
    local lat = {}
    local function small_call()
        local t0 = skynet.hpc()
        local during = in_flight
        remote_call()
        if during and in_flight then lat[#lat + 1] = (skynet.hpc() - t0) / 1e6 end
    end
    local deadline = skynet.hpc() + math.max(seconds, 2) * 1e9
    while skynet.hpc() < deadline do small_call() end
    skynet.send(sender, "lua", "stop")
    while not sender_done do small_call() end -- until the sender's last transfer ends
    print(string.format("call.during10mb %.2f %.2f %d %d", percentile(lat, 0.5),
        percentile(lat, 0.99), #lat, transfers))
end

skynet.start(function()
    -- The caller and .bench run on the socket thread while idle (socket.inline), as the links
    -- do; BENCH_INLINE=0 leaves them on the workers.
    if os.getenv("BENCH_INLINE") ~= "0" then require("skynet.socket").inline(true) end
    if name == "b" then
        echo_service()
        skynet.register ".bench"
        skynet.name(".bulk", skynet.newservice("bench_cluster", "echo"))
        cluster.open(open_options())
        print "bench_cluster: serving"
        return
    end
    local ok, err = xpcall(client, debug.traceback)
    if not ok then
        print("bench_cluster: " .. tostring(err))
        skynet.abort(1)
    end
    skynet.abort(0)
end)
