-- The Redis client under load, for bench/redis/redis_client_bench.sh:
--   bench_redis <scenario> <requests> <port> [services]
-- Scenarios (SET then GET, `requests` of each, 3-byte values as redis-benchmark sends):
--   c1      one coroutine on one connection, one command at a time
--   co50    50 coroutines sharing one connection (automatic pipelining)
--   p16     one coroutine on one connection, explicit pipelines of 16
--   p16b    the same, built with the pipeline builder (db:pipeline(), p:set(...), p:execute())
--   c50p16  50 connections, each with a coroutine sending pipelines of 16, spread over
--           `services` services (default 1)
-- A fifth argument, if given, must be "socket" (replies are framed on the socket thread; the
-- in-service parser that "service" chose is gone: docs/benchmarks.md keeps its figure).
-- A sixth, the key mode: "same" (the default) sends every command to the one key
-- "key:__rand_int__" (the literal key redis-benchmark uses without -r) after an untimed warm-up
-- of a twentieth of the requests; "varied" gives every command a key "key:%012d" drawn as
-- redis-benchmark -r draws its keys (uniformly from a key space, the seventh argument, default
-- 10^9: in effect a new key every command), with no warm-up: the first command is timed, and
-- every pipeline is a new list of new command tables.
-- Prints "<scenario>.set <ops/s> <process CPU us/op>" and the same for get on stdout, then
-- stops the node.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local scenario, requests, port, services, parse, keys, key_space = ...
requests, port, services = tonumber(requests), tonumber(port), tonumber(services) or 1
if parse ~= nil and parse ~= "socket" then
    error(string.format("bench_redis: parse %q is not available (only \"socket\")", parse))
end
keys = keys or "same"
if keys ~= "same" and keys ~= "varied" then
    error(string.format("bench_redis: key mode %q is not known (\"same\" or \"varied\")", keys))
end
local varied = keys == "varied"
key_space = tonumber(key_space) or 1000000000
local KEY, VALUE = "key:__rand_int__", "xxx"
local format = string.format

-- The key of the next command: the one key, or the next of up to DRAWS keys drawn for the phase
-- (draw_keys, before it is timed), in the order they are sent; a phase longer than that goes
-- round them again. Drawn beforehand as redis-benchmark -r patches random digits into requests
-- it encoded once: formatting a key costs more than the client's whole work for the command it
-- goes in. Drawn, not counted, and a new draw for each phase: keys taken in order would hand the
-- server a locality that the reference's random keys do not have (a GET phase would find its
-- keys in the order the SETs made them), and a key space smaller than the phase has repeats,
-- whose strings Lua shares, so the client would read them from all over its heap where
-- redis-benchmark writes digits (docs/benchmarks.md has the figures of both). BENCH_DRAWS sets
-- how many (count_instructions.sh draws as many for a short run as for a long one).
local DRAWS = math.tointeger(tonumber(os.getenv("BENCH_DRAWS"))) or 1 << 18
local next_key = 0
local drawn
local key = function() return KEY end
if varied then
    key = function()
        local k = drawn[next_key % DRAWS]
        next_key = next_key + 1
        return k
    end
end

-- Draws the keys of the next phase (count commands; varied keys only), then collects the
-- garbage so that none of it is left for the timed phase. Yields.
local function draw_keys(count)
    if not varied then return end
    -- A draw takes 100 ms or more: resumed by the timer thread, it runs on a worker, not
    -- inline on the socket thread after the last reply (which would pass socket.inline's limit
    -- and move this service to the workers for good). sleep(0) would not do: its message is
    -- sent from the thread that asks, and one sent on the socket thread runs there too.
    skynet.sleep(1)
    drawn = nil
    collectgarbage()
    local t, random = {}, math.random
    for i = 0, math.min(count, DRAWS) - 1 do
        t[i] = format("key:%012d", random(0, key_space - 1))
    end
    drawn, next_key = t, 0
    collectgarbage()
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
-- builds them. built: with the builder (db:pipeline(), then p:set(k, v) 16 times and
-- p:execute(), one builder for the phase) instead of a list.
local function pipelines(db, cmd, count, built)
    if built then
        local p = db:pipeline()
        for _ = 1, count // 16 do
            if cmd == "set" then
                for _ = 1, 16 do p:set(key(), VALUE) end
            else
                for _ = 1, 16 do p:get(key()) end
            end
            p:execute()
        end
        return
    end
    if not varied then
        local ops = {}
        for i = 1, 16 do ops[i] = cmd == "set" and { "set", KEY, VALUE } or { "get", KEY } end
        for _ = 1, count // 16 do db:pipeline(ops) end
        return
    end
    -- The key is taken into a local first: a call last in a table constructor is expanded to
    -- all its results (the table then grows once they are counted), which cost a GET about 680
    -- instructions more than a SET, whose call is not last.
    for _ = 1, count // 16 do
        local ops = {}
        if cmd == "set" then
            for i = 1, 16 do
                local k = key()
                ops[i] = { "set", k, VALUE }
            end
        else
            for i = 1, 16 do
                local k = key()
                ops[i] = { "get", k }
            end
        end
        db:pipeline(ops)
    end
end

-- Each scenario connects and returns its phase: phase(op) runs `n` commands of op ("set" or
-- "get") and returns ops/s and the process's CPU us per op.
local scenarios = {}

-- One command at a time per coroutine: the body timed() runs.
local function one_by_one(db, op)
    if op == "set" then return function(_, c) for _ = 1, c do db:set(key(), VALUE) end end end
    return function(_, c) for _ = 1, c do db:get(key()) end end
end

function scenarios.c1(n)
    local db = connect()
    return function(op) return timed(1, n, one_by_one(db, op)) end
end

function scenarios.co50(n)
    local db = connect()
    return function(op) return timed(50, n, one_by_one(db, op)) end
end

function scenarios.p16(n)
    local db = connect()
    return function(op)
        return timed(1, n, function(_, c) pipelines(db, op, c) end)
    end
end

-- p16 with the pipeline builder.
function scenarios.p16b(n)
    local db = connect()
    return function(op)
        return timed(1, n, function(_, c) pipelines(db, op, c, true) end)
    end
end

-- `conns` connections of this service, pipelines of 16 on each.
function scenarios.p16conns(n, conns)
    local dbs = {}
    for i = 1, conns do dbs[i] = connect() end
    return function(op)
        return timed(conns, n, function(w, c) pipelines(dbs[w], op, c) end)
    end
end

-- c50p16: the 50 connections spread over `services` helper services, which run each phase side
-- by side; the figure is the sum of their rates. Every helper draws its keys before any of them
-- starts the phase. The CPU figure is the last helper's (each covers the whole process).
function scenarios.c50p16(n)
    local helpers = {}
    for i = 1, services do
        helpers[i] = skynet.newservice("bench_redis", "worker", 0, port, 1, "socket", keys,
            key_space)
        skynet.call(helpers[i], "lua", "connect", n // services, 50 // services)
    end
    return function(op)
        for i = 1, services do skynet.call(helpers[i], "lua", "draw") end
        local sum, cpu, left = 0, 0, services
        for i = 1, services do
            skynet.fork(function()
                local ops, c = skynet.call(helpers[i], "lua", "run", op)
                sum, cpu, left = sum + ops, c, left - 1
                if left == 0 then skynet.wakeup(helpers) end
            end)
        end
        skynet.wait(helpers)
        return sum, cpu
    end
end

skynet.start(function()
    -- BENCH_INLINE=1 (redis_client_bench.sh's default): replies are handled on the socket
    -- thread (socket.inline).
    if os.getenv("BENCH_INLINE") == "1" then require("skynet.socket").inline(true) end
    if scenario == "worker" then
        -- A helper of c50p16: connects, draws and runs a phase when asked.
        local phase, share
        local commands = {
            connect = function(n, conns)
                share = n
                phase = scenarios.p16conns(n, conns)
            end,
            draw = function() draw_keys(share) end,
            run = function(op) return phase(op) end,
        }
        skynet.dispatch("lua", function(_, _, command, ...)
            skynet.retpack(commands[command](...))
        end)
        return
    end
    -- c50p16's helpers draw their own keys.
    local phase = scenarios[scenario](requests)
    local own_keys = scenario ~= "c50p16"
    if own_keys then draw_keys(requests) end
    local set, set_cpu = phase("set")
    if own_keys then draw_keys(requests) end
    local get, get_cpu = phase("get")
    print(string.format("%s.set %.0f %.2f", scenario, set, set_cpu))
    print(string.format("%s.get %.0f %.2f", scenario, get, get_cpu))
    io.stdout:flush()
    skynet.abort(0)
end)
