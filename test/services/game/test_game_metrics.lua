-- config: lua-test-game-redis
-- The game's metrics with its real world service over a real Redis (run under redis_lab): logins
-- and logouts move skyhive_game_players_online; gives count by result; saves of records that
-- changed count by outcome; a record written behind the world's back is a version conflict.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"
local m = require "metrics_lib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local N = { node = "mnode" }

local function with(extra)
    local l = { node = "mnode" }
    for k, v in pairs(extra) do l[k] = v end
    return l
end

t.run(function()
    local db = redis.connect { port = port }
    db:flushall()
    local world = skynet.newservice("world", "mnode")
    local function login(name, pw)
        local agent = skynet.newservice("helper_game_agent", pw)
        local ok, text = skynet.call(world, "lua", "login", agent, name, "127.0.0.1")
        t.ok(ok, "login " .. name .. ": " .. tostring(text))
        return agent
    end

    t.eq(m.value("skyhive_game_players_online", N), 0, "nobody online")
    local alice = login("alice", "pw1")
    local bob = login("bob", "pw2")
    t.eq(m.value("skyhive_game_players_online", N), 2, "two players online")

    -- Gives: one that moves gold, one to nobody, one too large.
    local ok, text = skynet.call(world, "lua", "give", "alice", "bob", 10)
    t.ok(ok, "give: " .. tostring(text))
    t.eq(m.value("skyhive_game_transfers_total", with { result = "ok" }), 1, "one transfer")
    t.eq((skynet.call(world, "lua", "give", "alice", "nobody", 1)), false, "to nobody")
    t.eq(m.value("skyhive_game_transfers_total", with { result = "unknown" }), 1, "unknown")
    t.eq((skynet.call(world, "lua", "give", "alice", "bob", 100000)), false, "too much")
    t.eq(m.value("skyhive_game_transfers_total", with { result = "poor" }), 1, "poor")

    -- A record changed behind the world's back (its version bumped, its owner kept): alice's next
    -- save finds it, merges, and saves again.
    skynet.call(world, "lua", "say", "alice", "hello")
    db:hincrby("game:player:alice", "version", 1)
    local saved = m.value("skyhive_game_saves_total", with { outcome = "saved" })
    t.eq((skynet.call(world, "lua", "logout", alice, "alice")), true, "alice logs out, saved")
    t.eq(m.value("skyhive_game_version_conflicts_total", with { decision = "merge" }), 1,
        "one version conflict, merged")
    t.eq(m.value("skyhive_game_saves_total", with { outcome = "saved" }), saved + 1,
        "one save of alice's changed record")
    t.eq(m.value("skyhive_game_players_online", N), 1, "one player online")

    -- bob has nothing to save: his logout is no save.
    t.eq((skynet.call(world, "lua", "logout", bob, "bob")), true, "bob logs out")
    t.eq(m.value("skyhive_game_saves_total", with { outcome = "saved" }), saved + 1,
        "no save without changes")
    t.eq(m.value("skyhive_game_players_online", N), 0, "nobody online again")
    db:disconnect()
    local clean, complaints = m.promtool()
    t.ok(clean, "promtool check metrics: " .. complaints)
end)
