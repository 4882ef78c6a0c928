-- The Redis client under load, for bench/redis/redis_client_bench.sh:
--   bench_redis <scenario> <requests> <port> [services]
-- Scenarios (SET then GET, `requests` of each, 3-byte values as redis-benchmark sends):
--   c1      one coroutine on one connection, one command at a time
--   co50    50 coroutines sharing one connection (automatic pipelining)
--   p16     one coroutine on one connection, explicit pipelines of 16
--   c50p16  50 connections, each with a coroutine sending pipelines of 16, spread over
--           `services` services (default 1)
-- A fifth argument, if given, must be "socket" (replies are framed on the socket thread; the
-- in-service parser that "service" chose is gone: docs/benchmarks.md keeps its figure).
-- A sixth, the key mode: "same" (the default) sends every command to the one key
-- "key:__rand_int__" (the literal key redis-benchmark uses without -r) after an untimed warm-up
-- of a twentieth of the requests; "varied" gives every command a fresh key "key:%012d" (the
-- shape of redis-benchmark -r's keys) counting from a seventh argument (default 0) and taking
-- them modulo an eighth (the key space, default 100000), with no warm-up: the first command is
-- timed, and every pipeline is a new list of new command tables.
-- Prints "<scenario>.set <ops/s> <process CPU us/op>" and the same for get on stdout, then
-- stops the node.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local scenario, requests, port, services, parse, keys, key_base, key_space = ...
requests, port, services = tonumber(requests), tonumber(port), tonumber(services) or 1
if parse ~= nil and parse ~= "socket" then
    error(string.format("bench_redis: parse %q is not available (only \"socket\")", parse))
end
keys = keys or "same"
if keys ~= "same" and keys ~= "varied" then
    error(string.format("bench_redis: key mode %q is not known (\"same\" or \"varied\")", keys))
end
local varied = keys == "varied"
key_base, key_space = tonumber(key_base) or 0, tonumber(key_space) or 100000
local KEY, VALUE = "key:__rand_int__", "xxx"
local format = string.format

-- The key of the next command: the one key, or a fresh one per command. The varied keys are
-- made before anything is timed, as redis-benchmark -r patches digits into requests it encoded
-- once: formatting a key costs more than the client's whole work for the command it goes in.
local next_key = 0
local key
if varied then
    local names = {}
    for i = 0, key_space - 1 do names[i] = format("key:%012d", i) end
    key = function()
        local k = names[(key_base + next_key) % key_space]
        next_key = next_key + 1
        return k
    end
else
    key = function() return KEY end
end

local function connect()
    return redis.connect { port = port, flush = os.getenv("BENCH_FLUSH") }
end

-- CPU seconds the whole process (workers, socket thread, timer) has used so far.
local TICKS = 100  -- USER_HZ on Linux
local function process_cpu()
    local f = io.open("/proc/self/stat")
    if not f then return 0 end
    local stat = f:read("a")
    f:close()
    -- Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    local rest = stat:match("%) (.*)$")
    local fields = {}
    for v in rest:gmatch("%S+") do fields[#fields + 1] = v end
    return (tonumber(fields[12]) + tonumber(fields[13])) / TICKS
end

-- Runs `workers` coroutines; each calls body(worker, count) with its share of n. Returns ops/s
-- and the process's CPU microseconds per operation.
-- With the same key, a warm-up of a twentieth of the requests runs first, untimed.
local function timed(workers, n, body)
    if not varied then
        local warm = math.max(16, n // 20 // workers)
        local left = workers
        for w = 1, workers do
            skynet.fork(function()
                body(w, warm)
                left = left - 1
                if left == 0 then skynet.wakeup(KEY) end
            end)
        end
        skynet.wait(KEY)
    end
    local each = n // workers
    left = workers
    local cpu0 = process_cpu()
    local t0 = skynet.hpc()
    local t1
    for w = 1, workers do
        skynet.fork(function()
            body(w, each)
            left = left - 1
            if left == 0 then
                t1 = skynet.hpc()
                skynet.wakeup(KEY)
            end
        end)
    end
    skynet.wait(KEY)
    local ops = each * workers
    return ops / ((t1 - t0) / 1e9), (process_cpu() - cpu0) * 1e6 / ops
end

-- Pipelines of 16; with varied keys each is a new list of new commands, as an application
-- builds them.
local function pipelines(db, cmd, count)
    if not varied then
        local ops = {}
        for i = 1, 16 do ops[i] = cmd == "set" and { "set", KEY, VALUE } or { "get", KEY } end
        for _ = 1, count // 16 do db:pipeline(ops) end
        return
    end
    for _ = 1, count // 16 do
        local ops = {}
        if cmd == "set" then
            for i = 1, 16 do ops[i] = { "set", key(), VALUE } end
        else
            for i = 1, 16 do ops[i] = { "get", key() } end
        end
        db:pipeline(ops)
    end
end

local run = {}

function run.c1(n)
    local db = connect()
    local set, set_cpu = timed(1, n, function(_, c) for _ = 1, c do db:set(key(), VALUE) end end)
    next_key = 0
    local get, get_cpu = timed(1, n, function(_, c) for _ = 1, c do db:get(key()) end end)
    return set, get, set_cpu, get_cpu
end

function run.co50(n)
    local db = connect()
    local set, set_cpu = timed(50, n, function(_, c) for _ = 1, c do db:set(key(), VALUE) end end)
    next_key = 0
    local get, get_cpu = timed(50, n, function(_, c) for _ = 1, c do db:get(key()) end end)
    return set, get, set_cpu, get_cpu
end

function run.p16(n)
    local db = connect()
    local set, set_cpu = timed(1, n, function(_, c) pipelines(db, "set", c) end)
    next_key = 0
    local get, get_cpu = timed(1, n, function(_, c) pipelines(db, "get", c) end)
    return set, get, set_cpu, get_cpu
end

-- `conns` connections of this service, pipelines of 16.
function run.p16conns(n, conns)
    local dbs = {}
    for i = 1, conns do dbs[i] = connect() end
    local set, set_cpu = timed(conns, n, function(w, c) pipelines(dbs[w], "set", c) end)
    next_key = 0
    local get, get_cpu = timed(conns, n, function(w, c) pipelines(dbs[w], "get", c) end)
    return set, get, set_cpu, get_cpu
end

skynet.start(function()
    -- BENCH_INLINE=1 (redis_client_bench.sh's default): replies are handled on the socket
    -- thread (socket.inline).
    if os.getenv("BENCH_INLINE") == "1" then require("skynet.socket").inline(true) end
    if scenario == "worker" then
        -- A helper service of c50p16: answers its share when asked.
        skynet.dispatch("lua", function(_, _, n, conns)
            skynet.retpack(run.p16conns(n, conns))
        end)
        return
    end
    local set, get, set_cpu, get_cpu
    if scenario == "c50p16" then
        -- Every service does SET then GET on its connections; the figure is the sum of the
        -- services' rates (they run side by side for the same requests each).
        local helpers = {}
        for i = 1, services do
            helpers[i] = skynet.newservice("bench_redis", "worker", 0, port, 1, "socket", keys, 0,
                key_space)
        end
        set, get = 0, 0
        local left = services
        for i = 1, services do
            skynet.fork(function()
                -- Each helper's CPU figure covers the whole process; the last one stands.
                local s, g, sc, gc = skynet.call(helpers[i], "lua", requests // services,
                    50 // services, key_base + (i - 1) * (requests // services))
                set, get, set_cpu, get_cpu = set + s, get + g, sc, gc
                left = left - 1
                if left == 0 then skynet.wakeup(helpers) end
            end)
        end
        skynet.wait(helpers)
    else
        set, get, set_cpu, get_cpu = run[scenario](requests)
    end
    print(string.format("%s.set %.0f %.2f", scenario, set, set_cpu))
    print(string.format("%s.get %.0f %.2f", scenario, get, get_cpu))
    io.stdout:flush()
    skynet.abort(0)
end)
