-- The game under load, for bench/game/game_bench.sh:
--   bench_game <redis port, or cluster seeds "h:p,h:p"> <game ports "p1,p2"> <clients>
--              <seconds> [game|ref]
-- Two figures, measured one after the other in this run:
--   game  `clients` telnet-style connections, spread over the two nodes, each logged in as its
--         own player (b00, b01, ...; each starts the figure with 100 gold) and giving 1-5
--         gold to random players of the set, one command at a time; counts "gave" replies
--   ref   the same transfers (services/game/bank.lua: both locks, the script, the releases)
--         from `clients` coroutines of this service over one Redis connection, among players
--         of their own (r00, ...): the Redis work of a transfer without the game around it
-- Prints "game.transfers <per s> <refused> <p50 us> <p99 us> <cpu s> <count> <messages>
-- <redis commands>" and the same for "ref.transfers" on stdout, then stops the node: the
-- latencies are those of one command (game: from the write of a give to its reply, as the
-- client sees it; ref: one bank.give), the CPU is this process's (os.clock) while the figure
-- ran, the count the transfers made, then the service messages this process ran and the Redis
-- commands its clients sent meanwhile. With the fifth
-- argument "game" or "ref", only that figure (game: a load for bench/game/game_memory.sh;
-- game_bench.sh runs each in its own process to count each one's CPU and Redis commands); with
-- "reset", only the game players' reset below (game_bench.sh's C++ client, game_load, plays).
-- The service opts in to socket.inline (its connections' events, the players' lines and the
-- Redis replies, run on the socket thread while it is idle), as the game's world and logged-in
-- agents do: the reference's Redis client then runs as the world's does, and the load of the
-- game figure costs its two cores less. BENCH_INLINE=0 leaves it on the workers.
local skynet = require "skynet"
local socket = require "skynet.socket"
local redis = require "skynet.db.redis"
local bank = require "bank"
local gdb = require "game_db"
local metrics = require "skynet.metrics"

local redis_port, ports, clients, seconds, only = ...
local seeds
if redis_port:find(":", 1, true) then
    seeds = {}
    for s in redis_port:gmatch("[^,]+") do seeds[#seeds + 1] = s end
end
redis_port, clients, seconds = tonumber(redis_port), tonumber(clients), tonumber(seconds)
local game_ports = {}
for p in ports:gmatch("%d+") do game_ports[#game_ports + 1] = tonumber(p) end

local function name(prefix, i)
    return string.format("%s%02d", prefix, i)
end

local function other(i)
    local j = math.random(0, clients - 2)
    if j >= i then j = j + 1 end
    return j
end

local hpc = skynet.hpc

-- This process's service messages and Redis commands so far (every service, every client).
local function totals()
    local f = metrics.collect()
    local function sum(family)
        local n = 0
        for _, s in ipairs(family and family.samples or {}) do n = n + (s.value or 0) end
        return n
    end
    return sum(f.skyhive_node_messages_total), sum(f.skyhive_redis_commands_total)
end
local lat, nlat = {}, 0 -- latency of every command of the running figure, ns

local function record(t0)
    nlat = nlat + 1
    lat[nlat] = hpc() - t0
end

-- Runs body(i, deadline) in `clients` coroutines until `seconds` pass; returns the transfers
-- per second, how many were refused, the p50 and p99 latency (us) of the commands body recorded,
-- the process CPU seconds spent meanwhile and how many transfers were made.
local function timed(body)
    local done, refused, left, me = 0, 0, clients, coroutine.running()
    lat, nlat = {}, 0
    local m0, r0 = totals()
    local c0 = os.clock()
    local t0 = skynet.hpc()
    local deadline = skynet.now() + seconds * 100
    for i = 0, clients - 1 do
        skynet.fork(function()
            local d, r = body(i, deadline)
            done, refused = done + d, refused + r
            left = left - 1
            if left == 0 then skynet.wakeup(me) end
        end)
    end
    skynet.wait(me)
    local rate = done / ((skynet.hpc() - t0) / 1e9)
    local cpu = os.clock() - c0
    local m1, r1 = totals()
    table.sort(lat)
    local function pct(p)
        if nlat == 0 then return 0 end
        return lat[math.max(1, math.ceil(nlat * p))] / 1000
    end
    return rate, refused, pct(0.5), pct(0.99), cpu, done, m1 - m0, r1 - r0
end

local function reply(id)
    while true do
        local line = socket.readline(id, "\r\n")
        if not line then error("game connection closed") end
        if line:sub(1, 1) ~= "[" then return line end
    end
end

-- Every player of the game figure starts it with 100 gold, as the reference's do (ref below):
-- otherwise the balances drift apart from one run to the next against the same nodes, and a
-- growing share of the gives is refused for want of gold (7% of them in a first run, 30% by the
-- fifth), each costing both locks and the script without counting as a transfer. The previous
-- run's players are saved before they leave presence (world.lua, logout), so once none is there
-- their records may be set.
local function reset_players(db)
    for _ = 1, 200 do
        local present = false
        for i = 0, clients - 1 do
            if db:hget(gdb.ONLINE, name("b", i)) then
                present = true
                break
            end
        end
        if not present then break end
        skynet.sleep(5)
    end
    for i = 0, clients - 1 do
        local key = gdb.player_key(name("b", i))
        if db:exists(key) then
            db:hset(key, "gold", 100)
            db:hincrby(key, "version", 1)
        end
    end
end

local function game()
    local db = seeds and redis.cluster { nodes = seeds } or redis.connect { port = redis_port }
    reset_players(db)
    db:disconnect()
    local ids = {}
    for i = 0, clients - 1 do
        local id = assert(socket.open("127.0.0.1", game_ports[i % #game_ports + 1]))
        reply(id)
        -- The previous run's session of this player may still be logging out.
        local r
        for _ = 1, 100 do
            socket.write(id, "login " .. name("b", i) .. " secret\r\n")
            r = reply(id)
            if r:find("^welcome") then break end
            skynet.sleep(5)
        end
        assert(r:find("^welcome"), r)
        ids[i] = id
    end
    local r = table.pack(timed(function(i, deadline)
        local id, done, no = ids[i], 0, 0
        while skynet.now() < deadline do
            local t0 = hpc()
            socket.write(id, string.format("give %s %d\r\n", name("b", other(i)), math.random(5)))
            local ok = reply(id):find("^gave")
            record(t0)
            if ok then done = done + 1 else no = no + 1 end
        end
        return done, no
    end))
    for i = 0, clients - 1 do
        socket.write(ids[i], "quit\r\n")
        socket.close(ids[i])
    end
    return table.unpack(r, 1, r.n)
end

local function ref()
    local db = seeds and redis.cluster { nodes = seeds } or redis.connect { port = redis_port }
    for i = 0, clients - 1 do
        db:hset(gdb.player_key(name("r", i)), "gold", 100, "version", 1)
    end
    local r = table.pack(timed(function(i, deadline)
        local done, no = 0, 0
        while skynet.now() < deadline do
            local t0 = hpc()
            local ok = bank.give(db, name("r", i), name("r", other(i)), math.random(5))
            record(t0)
            if ok then
                done = done + 1
            else
                no = no + 1
            end
        end
        return done, no
    end))
    db:disconnect()
    return table.unpack(r, 1, r.n)
end

skynet.start(function()
    if os.getenv("BENCH_INLINE") ~= "0" then socket.inline(true) end
    local ok, err = pcall(function()
        local line = "%s %.0f %d %.0f %.0f %.3f %d %d %d"
        if only == "reset" then
            local db = seeds and redis.cluster { nodes = seeds } or redis.connect { port = redis_port }
            reset_players(db)
            db:disconnect()
            print("reset")
            return
        end
        if only ~= "ref" then print(string.format(line, "game.transfers", game())) end
        if only ~= "game" then print(string.format(line, "ref.transfers", ref())) end
        io.stdout:flush()
    end)
    if not ok then
        io.stderr:write("bench_game: " .. tostring(err) .. "\n")
        skynet.abort(1)
    end
    skynet.abort(0)
end)
