-- The game under load, for bench/game/game_bench.sh:
--   bench_game <redis port, or cluster seeds "h:p,h:p"> <game ports "p1,p2"> <clients>
--              <seconds> [game]
-- Two figures, measured one after the other in this run:
--   game  `clients` telnet-style connections, spread over the two nodes, each logged in as its
--         own player (b00, b01, ...) and giving 1-5 gold to random players of the set, one
--         command at a time; counts "gave" replies
--   ref   the same transfers (services/game/bank.lua: both locks, the script, the releases)
--         from `clients` coroutines of this service over one Redis connection, among players
--         of their own (r00, ...): the Redis work of a transfer without the game around it
-- Prints "game.transfers <per s> <refused>" and "ref.transfers <per s> <refused>" on stdout,
-- then stops the node. With the fifth argument "game", only the first (a load for
-- bench/game/game_memory.sh).
local skynet = require "skynet"
local socket = require "skynet.socket"
local redis = require "skynet.db.redis"
local bank = require "bank"
local gdb = require "game_db"

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

-- Runs body(i, deadline) in `clients` coroutines until `seconds` pass; returns the transfers
-- per second and how many were refused.
local function timed(body)
    local done, refused, left, me = 0, 0, clients, coroutine.running()
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
    return done / ((skynet.hpc() - t0) / 1e9), refused
end

local function reply(id)
    while true do
        local line = socket.readline(id, "\r\n")
        if not line then error("game connection closed") end
        if line:sub(1, 1) ~= "[" then return line end
    end
end

local function game()
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
    local rate, refused = timed(function(i, deadline)
        local id, done, no = ids[i], 0, 0
        while skynet.now() < deadline do
            socket.write(id, string.format("give %s %d\r\n", name("b", other(i)), math.random(5)))
            if reply(id):find("^gave") then done = done + 1 else no = no + 1 end
        end
        return done, no
    end)
    for i = 0, clients - 1 do
        socket.write(ids[i], "quit\r\n")
        socket.close(ids[i])
    end
    return rate, refused
end

local function ref()
    local db = seeds and redis.cluster { nodes = seeds } or redis.connect { port = redis_port }
    for i = 0, clients - 1 do
        db:hset(gdb.player_key(name("r", i)), "gold", 100, "version", 1)
    end
    local rate, refused = timed(function(i, deadline)
        local done, no = 0, 0
        while skynet.now() < deadline do
            if bank.give(db, name("r", i), name("r", other(i)), math.random(5)) then
                done = done + 1
            else
                no = no + 1
            end
        end
        return done, no
    end)
    db:disconnect()
    return rate, refused
end

skynet.start(function()
    local ok, err = pcall(function()
        local g, gr = game()
        print(string.format("game.transfers %.0f %d", g, gr))
        if only ~= "game" then
            local r, rr = ref()
            print(string.format("ref.transfers %.0f %d", r, rr))
        end
        io.stdout:flush()
    end)
    if not ok then
        io.stderr:write("bench_game: " .. tostring(err) .. "\n")
        skynet.abort(1)
    end
    skynet.abort(0)
end)
