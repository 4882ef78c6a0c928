-- The Redis Cluster client under load, for bench/redis/cluster_bench.sh (run under with_cluster,
-- whose environment names the nodes and the control port):
--   bench_cluster <scenario> <requests> [services | from to]
-- Scenarios (keys "key:<n>" with n random in [0, 100000), so they spread over every slot;
-- 3-byte values as redis-benchmark sends):
--   c50      50 coroutines on one client, one command at a time each: SET then GET
--   p16      50 coroutines, pipelines of 16 keys across slots: SET then GET; spread over
--            `services` services (default 1), each with a client of its own and its share of
--            the coroutines and requests (the figure is the sum of their rates)
--   reshard  50 coroutines GET (one in ten a SET) over 100,000 keys loaded first; the latency
--            of each GET is kept for 2 s, then while with_cluster reshards 1,000 slots from
--            master `from` to master `to` (redis-cli --cluster reshard)
-- Prints "<scenario>.set <ops/s> <process CPU us/op>" and the same for get (c50, p16), or
-- "reshard <errors> <p99 ms before> <p99 ms during> <GETs/s during> <reshard s>
-- <moved> <ask>", then stops the node.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local scenario, requests, from, to = ...
local services = tonumber(from) or 1
requests = tonumber(requests)
local VALUE = "xxx"
local KEYS = 100000

local seeds = {}
for p in assert(os.getenv "SKYHIVE_TEST_CLUSTER_PORTS", "run under with_cluster"):gmatch("%d+") do
    seeds[#seeds + 1] = "127.0.0.1:" .. p
end

local keys = {}
for i = 1, KEYS do keys[i] = "key:" .. (i - 1) end
local random = math.random

-- CPU seconds the whole process (workers, socket thread, timer) has used so far.
local function process_cpu()
    local f = io.open("/proc/self/stat")
    if not f then return 0 end
    local stat = f:read("a")
    f:close()
    local fields = {}
    for v in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = v end
    return (tonumber(fields[12]) + tonumber(fields[13])) / 100  -- USER_HZ
end

-- Runs `workers` coroutines, each body(count) with its share of n, after an untimed warm-up of
-- a twentieth. Returns ops/s and the process's CPU microseconds per operation. Yields.
local function timed(workers, n, body)
    local function round(each)
        local left, done = workers, {}
        for _ = 1, workers do
            skynet.fork(function()
                body(each)
                left = left - 1
                if left == 0 then skynet.wakeup(done) end
            end)
        end
        skynet.wait(done)
    end
    round(math.max(16, n // 20 // workers))
    local each = n // workers
    local cpu0, t0 = process_cpu(), skynet.hpc()
    round(each)
    local secs = (skynet.hpc() - t0) / 1e9
    local ops = each * workers
    return ops / secs, (process_cpu() - cpu0) * 1e6 / ops
end

local run = {}

function run.c50(db, n)
    local set, set_cpu = timed(50, n, function(c)
        for _ = 1, c do db:set(keys[random(KEYS)], VALUE) end
    end)
    local get, get_cpu = timed(50, n, function(c)
        for _ = 1, c do db:get(keys[random(KEYS)]) end
    end)
    return set, get, set_cpu, get_cpu
end

function run.p16(db, n, workers)
    workers = workers or 50
    local function body(cmd)
        return function(c)
            local ops = {}
            for i = 1, 16 do ops[i] = { cmd, false, cmd == "set" and VALUE or nil } end
            for _ = 1, c // 16 do
                for i = 1, 16 do ops[i][2] = keys[random(KEYS)] end
                db:pipeline(ops)
            end
        end
    end
    local set, set_cpu = timed(workers, n, body("set"))
    local get, get_cpu = timed(workers, n, body("get"))
    return set, get, set_cpu, get_cpu
end

-- p16 over `services` services started here: each runs run.p16 with its share, side by side.
-- The CPU figure is the process's over the whole run (warm-ups included) per timed operation.
local function p16_services(n)
    local helpers = {}
    for i = 1, services do helpers[i] = skynet.newservice("bench_cluster", "worker", 0) end
    local set, get, left, done = 0, 0, services, {}
    local cpu0 = process_cpu()
    for i = 1, services do
        skynet.fork(function()
            local s, g = skynet.call(helpers[i], "lua", n // services, 50 // services)
            set, get = set + s, get + g
            left = left - 1
            if left == 0 then skynet.wakeup(done) end
        end)
    end
    skynet.wait(done)
    local cpu = (process_cpu() - cpu0) * 1e6 / (2 * n)
    return set, get, cpu, cpu
end

local function p99(list)
    if #list == 0 then return 0 end
    table.sort(list)
    return list[math.max(1, math.ceil(#list * 0.99))]
end

function run.reshard(db)
    local batch = {}
    for i = 1, KEYS do
        batch[#batch + 1] = { "set", keys[i], VALUE }
        if #batch == 1000 then
            db:pipeline(batch)
            batch = {}
        end
    end
    local lab = redis.connect { port = tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT"),
        timeout = 600000 }
    local phase, before, during, errors, gets = "before", {}, {}, 0, 0
    local samples = {}
    local live = 50
    for _ = 1, 50 do
        skynet.fork(function()
            local n = 0
            while phase ~= "stop" do
                n = n + 1
                local key = keys[random(KEYS)]
                local t0 = skynet.hpc()
                local ok, err
                if n % 10 == 0 then
                    ok, err = pcall(db.set, db, key, VALUE)
                else
                    ok, err = pcall(db.get, db, key)
                    local ms = (skynet.hpc() - t0) / 1e6
                    if phase == "before" then before[#before + 1] = ms
                    elseif phase == "during" then
                        during[#during + 1] = ms
                        gets = gets + 1
                    end
                end
                if not ok then
                    errors = errors + 1
                    if #samples < 5 then samples[#samples + 1] = tostring(err) end
                end
            end
            live = live - 1
        end)
    end
    skynet.sleep(200)
    local st0 = db.stats()
    phase = "during"
    local t0 = skynet.hpc()
    local ok, err = pcall(lab.reshard, lab, from, to, 1000)
    local secs = (skynet.hpc() - t0) / 1e9
    phase = "stop"
    while live > 0 do skynet.sleep(1) end
    if not ok then error("RESHARD: " .. tostring(err)) end
    local st = db.stats()
    for _, e in ipairs(samples) do io.stderr:write("error: ", e, "\n") end
    print(string.format("reshard %d %.3f %.3f %.0f %.2f %d %d", errors, p99(before), p99(during),
        gets / secs, secs, st.moved - st0.moved, st.ask - st0.ask))
end

skynet.start(function()
    if scenario == "worker" then
        -- A helper of p16 over several services: answers its share when asked.
        local db = redis.cluster { nodes = seeds, timeout = 10000 }
        skynet.dispatch("lua", function(_, _, n, workers)
            skynet.retpack(run.p16(db, n, workers))
        end)
        return
    end
    local db = redis.cluster { nodes = seeds, timeout = 10000 }
    if scenario == "p16" and services > 1 then
        local set, get, set_cpu, get_cpu = p16_services(requests)
        print(string.format("%s.set %.0f %.2f", scenario, set, set_cpu))
        print(string.format("%s.get %.0f %.2f", scenario, get, get_cpu))
    elseif scenario == "reshard" then
        run.reshard(db)
    else
        local set, get, set_cpu, get_cpu = run[scenario](db, requests)
        print(string.format("%s.set %.0f %.2f", scenario, set, set_cpu))
        print(string.format("%s.get %.0f %.2f", scenario, get, get_cpu))
    end
    io.stdout:flush()
    skynet.abort(0)
end)
