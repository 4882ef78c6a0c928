-- The world of one node: the players logged in here (their records in memory through the
-- store), presence across nodes, gold transfers, and chat and notices between nodes over
-- pub/sub. Agents call it with the "lua" protocol:
--   login(agent, name)        -> true, greeting | false, reason
--   logout(agent, name)       -> nothing (the record is saved and forgotten)
--   gold(name)                -> gold
--   who()                     -> true, text | false, reason
--   give(name, to, amount)    -> true, text | false, reason
--   say(name, text)           -> true, text | false, reason
--   stop()                    -> saves everything, leaves presence (node shutdown)
-- and it sends agents ("lua"): notice(line), kick(line).
--
-- Args: node name. Config: game_start_gold (100), game_flush_interval (centiseconds, 100).
-- Thread: a service; one coroutine per request, they interleave at Redis calls.
local skynet = require "skynet"
local store = require "skynet.db.redis.store"
local gdb = require "game_db"
local bank = require "bank"
local presence = require "presence"

local node = ...
assert(node, "world: node name expected")

local START_GOLD = math.tointeger(tonumber(skynet.getenv "game_start_gold" or 100))
local FLUSH_CS = math.tointeger(tonumber(skynet.getenv "game_flush_interval" or 100))
local MAX_AMOUNT = 1000000000

local db, watch, here, players
local online = {}    -- name -> { agent, token, joining }
local stopping = false
local in_flight, drained = 0, nil -- transfers running; coroutine waiting for them to end
local session_seq = 0

local function notice(name, line)
    local o = online[name]
    if o and not o.joining then skynet.send(o.agent, "lua", "notice", line) end
end

-- The store found another version of a record in Redis than the one in memory. It is still
-- this session's record when the owner field is ours (a transfer bumped the version): keep
-- our unsaved fields on top. Otherwise the player logged in somewhere else since (this node
-- was cut off): theirs wins and the player here is kicked.
local function on_conflict(name, rec, remote)
    local o = online[name]
    if o and (o.joining or remote.owner == rec.owner) then return "merge" end
    if o then
        skynet.error(string.format("game: %s was taken over by %s; kicking the local session",
            name, tostring(remote.owner)))
        skynet.send(o.agent, "lua", "kick", "[kick] you logged in somewhere else")
        online[name] = nil
        skynet.fork(players.unload, players, name) -- once this save has let go of the record
    end
    return "drop"
end

local CMD = {}

function CMD.login(agent, name)
    if stopping then return false, "the server is shutting down" end
    if online[name] then return false, name .. " is already playing on this node" end
    local o = { agent = agent, joining = true }
    online[name] = o
    local function fail(reason)
        if online[name] == o then online[name] = nil end
        return false, reason
    end
    local ok, claimed, where = pcall(here.claim, here, name)
    if not ok then return fail("storage unavailable, try again (" .. tostring(claimed) .. ")") end
    if not claimed then return fail(name .. " is already playing on " .. where) end
    local rec, created, detail = players:load(name, true)
    if not rec then
        pcall(here.release, here, name)
        return fail("storage unavailable, try again (" .. tostring(detail or created) .. ")")
    end
    session_seq = session_seq + 1
    local token = string.format("%s.%s.%d", node, here.instance, session_seq)
    players:set(name, "owner", token)
    players:set(name, "logins", (rec.logins or 0) + 1)
    players:set(name, "last_login", os.time())
    local saved, why, more = players:flush(name)
    if not saved then
        players:unload(name)
        pcall(here.release, here, name)
        return fail("storage unavailable, try again (" .. tostring(more or why) .. ")")
    end
    o.token, o.joining = token, false
    if created then
        return true, string.format("welcome %s: you are new here and have %d gold", name, rec.gold)
    end
    return true, string.format("welcome back %s: %d gold, login #%d, %d lines said", name,
        rec.gold, rec.logins, rec.said or 0)
end

function CMD.logout(agent, name)
    local o = online[name]
    if not o or o.agent ~= agent then return end
    local ok, why, detail = players:unload(name)
    if not ok then
        skynet.error(string.format("game: saving %s at logout: %s", name, tostring(detail or why)))
    end
    if online[name] == o then online[name] = nil end
    if not stopping then pcall(here.release, here, name) end
end

function CMD.gold(name)
    if not online[name] or not players:get(name) then return nil end
    -- Transfers change gold in Redis and their news travels by pub/sub, which loses messages
    -- while a connection moves (a failover): one read makes the answer exact.
    players:refresh(name)
    local rec = players:get(name)
    return rec and rec.gold
end

function CMD.who()
    local ok, list = pcall(here.who, here)
    if not ok then return false, "storage unavailable, try again" end
    local parts = {}
    for i, e in ipairs(list) do parts[i] = e[1] .. "@" .. e[2] end
    return true, string.format("%d online: %s", #list, table.concat(parts, " "))
end

local function transfer(name, to, amount)
    local r, why, detail = bank.give(db, name, to, amount)
    if not r then
        if why == "unknown" then return false, "unknown player " .. to end
        if why == "poor" then return false, string.format("not enough gold: you have %d", detail) end
        if why == "busy" then return false, "busy, try again (" .. to .. " is in another trade)" end
        if why == "lost" then return false, "busy, try again (the trade timed out)" end
        skynet.error(string.format("game: give %s -> %s %d: %s", name, to, amount,
            tostring(detail or why)))
        return false, "storage unavailable: the trade may or may not have happened; check gold"
    end
    local from_gold, from_version, to_gold, to_version = r[1], r[2], r[3], r[4]
    -- Memory follows in forks, which run before this service's next message when no read is
    -- needed (the common case), and otherwise do not hold up the reply.
    skynet.fork(players.adopt, players, name, { gold = from_gold }, from_version)
    if online[to] and not online[to].joining then
        skynet.fork(players.adopt, players, to, { gold = to_gold }, to_version)
        notice(to, string.format("[gold] %s gave you %d gold; you have %d", name, amount, to_gold))
    else
        -- Wherever they are: the node that has them adopts the new balance and tells them.
        skynet.fork(pcall, db.publish, db, gdb.NOTIFY,
            table.concat({ to, name, amount, to_gold, to_version }, "\t"))
    end
    return true, string.format("gave %d gold to %s; you have %d gold", amount, to, from_gold)
end

function CMD.give(name, to, amount)
    if not online[name] then return false, "not logged in" end
    if stopping then return false, "the server is shutting down" end
    if to == name then return false, "you cannot give gold to yourself" end
    if not math.tointeger(amount) or amount < 1 or amount > MAX_AMOUNT then
        return false, "amount must be a whole number from 1 to " .. MAX_AMOUNT
    end
    in_flight = in_flight + 1
    local ok, done, text = pcall(transfer, name, to, amount)
    in_flight = in_flight - 1
    if in_flight == 0 and drained then skynet.wakeup(drained) end
    if not ok then error(done, 0) end
    return done, text
end

function CMD.say(name, text)
    local rec = players:get(name)
    if not rec then return false, "not logged in" end
    local ok, err = pcall(db.publish, db, gdb.CHAT, table.concat({ node, name, text }, "\t"))
    if not ok then return false, "storage unavailable, try again (" .. tostring(err) .. ")" end
    players:set(name, "said", (rec.said or 0) + 1)
    return true, "you say: " .. text
end

function CMD.stop()
    if stopping then return end
    stopping = true
    if in_flight > 0 then
        drained = coroutine.running()
        skynet.wait(drained)
    end
    bank.settle()
    for name, o in pairs(online) do
        skynet.send(o.agent, "lua", "kick", "[server] shutting down; your progress is saved")
        online[name] = nil
    end
    local failed = players:close()
    local ok, err = pcall(here.stop, here)
    skynet.error(string.format("game: %s stopped: players saved (%d failed), presence %s", node,
        failed, ok and "cleared" or ("not cleared: " .. tostring(err))))
    return failed
end

----------------------------------------------------------------------------------------------
-- Messages from the other nodes

local function on_chat(payload)
    local from_node, name, text = payload:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    if not from_node then return end
    local line = string.format("[chat] %s@%s: %s", name, from_node, text)
    for who, o in pairs(online) do
        -- The speaker has the reply to their say already.
        if not o.joining and not (from_node == node and who == name) then
            skynet.send(o.agent, "lua", "notice", line)
        end
    end
end

local function on_notify(payload)
    local to, from, amount, gold, version = payload:match("^([^\t]+)\t([^\t]+)\t(%d+)\t(-?%d+)\t(%d+)$")
    if not to or not online[to] or online[to].joining then return end
    gold, version = math.tointeger(tonumber(gold)), math.tointeger(tonumber(version))
    players:adopt(to, { gold = gold }, version)
    notice(to, string.format("[gold] %s gave you %s gold; you have %d", from, amount,
        players:get(to) and players:get(to).gold or gold))
end

local function listen()
    while true do
        local msg, channel = watch:message()
        if channel == gdb.CHAT then
            on_chat(msg)
        elseif channel == gdb.NOTIFY then
            skynet.fork(on_notify, msg)
        end
    end
end

skynet.start(function()
    local opts = gdb.options()
    db = gdb.connect(opts)
    players = store.new(db, {
        prefix = gdb.PLAYER_PREFIX,
        defaults = { gold = START_GOLD, said = 0, logins = 0 },
        numbers = { "last_login" },
        interval = FLUSH_CS,
        on_conflict = on_conflict,
    })
    here = presence.new(db, node)
    here:start()
    watch = gdb.watch(opts)
    watch:subscribe(gdb.CHAT, gdb.NOTIFY)
    skynet.fork(listen)
    skynet.error(string.format("game: %s uses Redis at %s", node, gdb.describe(opts)))
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error("world: unknown command " .. tostring(cmd)) end
        skynet.retpack(f(...))
    end)
end)
