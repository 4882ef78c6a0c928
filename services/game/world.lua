-- The world of one node: the players logged in here (their records in memory through the
-- store), presence across nodes, gold transfers, private messages, and chat between nodes.
-- Players are known by their id, the name in lower case (names are unique whatever their
-- case); what they see is the name as first registered.
--
-- Between nodes: chat goes by pub/sub (game:chat, to everyone). On one server the [gold] news
-- of a give leaves with the transfer: its script publishes it on the channel of the node that
-- has the player (game:notify:<node>, game_db.news_channel). A `tell`, and news that nobody
-- heard there (or on Redis Cluster), reach that node (presence says which) by a cluster call to
-- its world, through "@world" (world_peer.lua, which passes on only the commands for peers)
-- when the config opens the cluster (cluster_listen, cluster_nodes or skynet's cluster file;
-- the cluster name is the node name). Without a cluster the gold news falls back to pub/sub
-- (game:notify) and a tell reaches this node only.
--
-- Agents call it ("lua"):
--   login(agent, name, host)  -> true, greeting, shown name | false, reason (the world asks
--                                the agent to hash or verify the password: "hash", "verify")
--   logout(agent, id)         -> true | false, reason (the record is saved and forgotten)
--   gold(name)                -> gold
--   who()                     -> true, text | false, reason
--   give(name, to, amount)    -> true, text | false, reason
--   say(name, text)           -> true, text | false, reason
--   tell(name, to, text)      -> true, text | false, reason
--   stop()                    -> players not saved: saves everything, tells each player
--                                whether their progress was saved, leaves presence
-- The world is critical: the debug console does not kill it without `force`.
-- and it sends agents ("lua"): notice(line), kick(line).
-- The worlds of the other nodes call it through the cluster ("lua", by way of world_peer.lua;
-- they reach no other command):
--   peer_tell(to, from, from_node, text)          -> true, shown name | false (not here)
--   peer_gold(to, from, amount, gold, version)    -> true | false (not here)
--   peer_golds({{to, from, amount, gold, version}, ...}) -> how many were here (the news of
--                                                 this node's gives, batched per node)
--
-- Args: node name, handle of game.lua (which restarts the world if it ends; the world takes
-- over ".shutdown" if game.lua ends). Config: game_start_gold (100), game_flush_interval
-- (centiseconds, 100), game_notify_pubsub (true; false: this world listens to neither
-- game:notify nor its game:notify:<node>, which tests use to prove that the gold news came
-- through the cluster).
-- Thread: a service; one coroutine per request, they interleave at Redis calls. Its Redis
-- replies, and the requests of agents that run on the socket thread, run on the socket thread
-- while it is idle (socket.inline): every handler here is short and yields at each Redis call.
local skynet = require "skynet"
local socket = require "skynet.socket"
local store = require "skynet.db.redis.store"
local gdb = require "game_db"
local bank = require "bank"
local presence = require "presence"
local game_shutdown = require "game_shutdown"
local cluster = require "skynet.cluster"
local game_metrics = require "game_metrics"

local node, game = ...
assert(node, "world: node name expected")
game = math.tointeger(tonumber(game))

local START_GOLD = math.tointeger(tonumber(skynet.getenv "game_start_gold" or 100))
local FLUSH_CS = math.tointeger(tonumber(skynet.getenv "game_flush_interval" or 100))
local MAX_AMOUNT = 1000000000
local RECOVER_CS = 100 -- between looks for transfers left in flight (Redis Cluster)
local MAX_TELL = 400   -- bytes of a tell's text (the agent's lines are at most 512)
-- The node serves and calls its peers (skynet.cluster) when the config describes a cluster.
local CLUSTER = skynet.getenv "cluster_listen" ~= nil or skynet.getenv "cluster_nodes" ~= nil
    or skynet.getenv "cluster" ~= nil
local NOTIFY_PUBSUB = skynet.getenv "game_notify_pubsub" ~= "false"

local db, watch, here, players
local online = {}    -- name -> { agent, token, joining }
local cluster_open = false -- this world serves the node's "@world" (world_peer.lua)
local stopping = false
local in_flight, drained = 0, nil -- transfers running; coroutine waiting for them to end
local session_seq = 0
local gm = game_metrics.new(node)

-- Takes player `name` (entry o) out of `online`; one player fewer online when their login was
-- complete.
local function leave(name, o)
    if online[name] ~= o then return end
    online[name] = nil
    if not o.joining then gm.online:dec() end
end

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
    if o and (o.joining or remote.owner == rec.owner) then
        gm.conflicts.merge:inc()
        return "merge"
    end
    gm.conflicts.drop:inc()
    if o then
        skynet.error(string.format("game: %s was taken over by %s; kicking the local session",
            name, tostring(remote.owner)))
        skynet.send(o.agent, "lua", "kick", "[kick] you logged in somewhere else")
        leave(name, o)
        skynet.fork(players.unload, players, name) -- once this save has let go of the record
    end
    return "drop"
end

local CMD = {}

local FAIL_WINDOW_MS = 60000
local FAILS_PER_NAME, FAILS_PER_ADDR = 5, 20 -- failed logins a minute

local function display(id)
    local rec = players:get(id)
    return rec and rec.name or id
end

-- Counts a failed login against the name and the address; never raises.
local function count_failure(id, host)
    pcall(gdb.FAILS_ADD, db, 1, gdb.fails_key("name", id), FAIL_WINDOW_MS)
    pcall(gdb.FAILS_ADD, db, 1, gdb.fails_key("addr", host), FAIL_WINDOW_MS)
end

-- The part of login that may fail anywhere: the caller undoes it all when it raises or
-- answers false. The agent hashes and checks the password (the world never sees it, and the
-- KDF runs on the agent's worker). -> true, greeting, display name | false, reason
local function join(agent, id, typed, host, o)
    local rec, why, detail = players:load(id, false)
    local created = false
    if not rec and why == "missing" then
        local pwhash = skynet.call(agent, "lua", "hash")
        session_seq = session_seq + 1
        o.token = string.format("%s.%s.%d", node, here.instance, session_seq)
        -- The whole record in one script: nothing is half-created whatever fails after.
        local fields = { "name", typed, "pwhash", pwhash, "gold", START_GOLD, "said", 0,
            "logins", 1, "last_login", os.time(), "owner", o.token }
        for i = 2, #fields, 2 do
            assert(fields[i] ~= nil, "login: no value for " .. fields[i - 1])
        end
        gdb.CREATE(db, 1, gdb.player_key(id), table.unpack(fields))
        created = true
        rec, why, detail = players:load(id, false)
    end
    if not rec then
        return false, "storage unavailable, try again (" .. tostring(detail or why) .. ")"
    end
    -- A damaged record stops the login here, before anything is written.
    for _, field in ipairs { "gold", "said", "logins" } do
        if rec[field] ~= nil and not math.tointeger(rec[field]) then
            error(string.format("record %s is damaged: %s = %s", gdb.player_key(id), field,
                tostring(rec[field])), 0)
        end
    end
    if not math.tointeger(rec.gold) then
        error(string.format("record %s is damaged: no gold", gdb.player_key(id)), 0)
    end
    if not created then
        local pwhash
        if rec.pwhash then
            local good, better = skynet.call(agent, "lua", "verify", rec.pwhash)
            if not good then
                count_failure(id, host)
                return false, "wrong password for " .. (rec.name or id)
            end
            pwhash = better
        else
            -- A record from before accounts: its first login sets the password.
            pwhash = skynet.call(agent, "lua", "hash")
        end
        session_seq = session_seq + 1
        o.token = string.format("%s.%s.%d", node, here.instance, session_seq)
        -- One script writes what the login changes, or nothing: not through the store's dirty
        -- fields, which a failed login could not take back.
        local applied = false
        for _ = 1, 4 do
            local changes = { owner = o.token, logins = (rec.logins or 0) + 1,
                last_login = os.time(), pwhash = pwhash, name = rec.name or typed }
            local flat = {}
            for k, v in pairs(changes) do
                flat[#flat + 1] = k
                flat[#flat + 1] = v
            end
            local ok, r = pcall(gdb.LOGIN, db, 1, gdb.player_key(id), players:version(id),
                table.unpack(flat))
            if not ok then
                return false, "storage unavailable, try again (" .. tostring(r) .. ")"
            end
            if r[1] == 1 then
                players:adopt(id, changes, r[2])
                applied = true
                break
            end
            -- Written since we read it (a transfer to this player): read it again.
            local same, why2, more = players:refresh(id)
            if not same then
                return false, "storage unavailable, try again (" .. tostring(more or why2) .. ")"
            end
        end
        if not applied then return false, "busy, try again (the record keeps changing)" end
    end
    pcall(db.del, db, gdb.fails_key("name", id)) -- the owner proved the name
    local greeting
    if created then
        greeting = string.format("welcome %s: you are new here and have %d gold", rec.name,
            rec.gold)
    else
        greeting = string.format("welcome back %s: %d gold, login #%d, %d lines said", rec.name,
            rec.gold, rec.logins, rec.said or 0)
    end
    return true, greeting, rec.name
end

-- login(agent, name, host) -> true, greeting, display name | false, reason. All or nothing:
-- on any failure or error the name is free again here and in presence, and no record is left
-- half-made.
function CMD.login(agent, typed, host)
    if stopping then return false, "the server is shutting down" end
    local id = typed:lower()
    if online[id] then return false, typed .. " is already playing on this node" end
    local ok, wait = pcall(gdb.FAILS_CHECK, db, 1, gdb.fails_key("name", id), FAILS_PER_NAME)
    if ok then
        local more
        ok, more = pcall(gdb.FAILS_CHECK, db, 1, gdb.fails_key("addr", host), FAILS_PER_ADDR)
        if ok then wait = math.max(wait, more) else wait = more end
    end
    if not ok then return false, "storage unavailable, try again (" .. tostring(wait) .. ")" end
    if wait > 0 then
        return false,
            string.format("too many failed logins, try again in %d s", (wait + 999) // 1000)
    end
    local o = { agent = agent, joining = true }
    online[id] = o
    local claimed, where
    ok, claimed, where = pcall(here.claim, here, id)
    if not ok or not claimed then
        if online[id] == o then online[id] = nil end
        if not ok then
            return false, "storage unavailable, try again (" .. tostring(claimed) .. ")"
        end
        return false, typed .. " is already playing on " .. where
    end
    local done, good, text, shown = pcall(join, agent, id, typed, host, o)
    if done and good and online[id] == o then
        o.joining = false
        gm.online:inc()
        return true, text, shown
    end
    -- Undo: forget the record (saving what this login changed, if anything), leave presence.
    if not done then
        skynet.error(string.format("game: login of %s failed: %s", id, tostring(good)))
        text = "login failed (internal error), try again"
    elseif good then
        text = "login interrupted, try again" -- kicked (taken over) while joining
    end
    if online[id] == o then
        online[id] = nil
        pcall(players.unload, players, id)
        here:release(id)
    end
    return false, text
end

-- logout(agent, id) -> true (saved) | false, reason (not saved: the record stays in memory and
-- the automatic flush keeps trying). The name leaves presence either way.
function CMD.logout(agent, name)
    local o = online[name]
    if not o or o.agent ~= agent then return false, "not logged in" end
    local ok, why, detail = players:unload(name)
    if not ok then
        skynet.error(string.format("game: saving %s at logout: %s", name, tostring(detail or why)))
    end
    leave(name, o)
    if not stopping then here:release(name) end
    if ok then return true end
    return false, tostring(why == "unavailable" and "storage unavailable" or why)
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

-- The [gold] news of a give made elsewhere to a player who may be here: the new balance
-- is adopted (at its version) and the player told.
local function deliver_gold(to, from, amount, gold, version)
    if not online[to] or online[to].joining then return false end
    players:adopt(to, { gold = gold }, version)
    notice(to, string.format("[gold] %s gave you %s gold; you have %d", from, amount,
        players:get(to) and players:get(to).gold or gold))
    return true
end

-- The [gold] news to other nodes: one line per news, "to\tfrom\tamount\tgold\tversion".
local function news_line(n)
    return table.concat(n, "\t", 1, 5)
end

-- By pub/sub (game:notify: every node listens and the one that has the player acts). Yields.
local function publish_news(list)
    for i = 1, #list do pcall(db.publish, db, gdb.NOTIFY, news_line(list[i])) end
    gm.news.pubsub:inc(#list)
end

-- News on its way to each peer node: node -> the list waiting for the next call; a node is in
-- here while its sender runs.
local outbox = {}

-- Sends the news queued for `where` until none is left, in one cluster call per batch: the
-- first at once, and whatever a transfer adds while a call is in flight with the next call. In
-- order, so a player's versions arrive in the order they were made (no refresh on the peer).
-- A failed call sends its batch by pub/sub. Yields.
local function send_news(where)
    while true do
        local list = outbox[where]
        if #list == 0 then
            outbox[where] = nil
            return
        end
        outbox[where] = {}
        local ok, err = pcall(cluster.call, where, "@world", "peer_golds", list)
        if ok then
            gm.news.cluster:inc(#list)
        else
            skynet.error(string.format("game: [gold] news for %d players to %s: %s; trying pub/sub",
                #list, where, tostring(err)))
            publish_news(list)
        end
    end
end

-- The [gold] news of a give to `to`, who is not online here: to the world of the node that has
-- them (`where`: from the transfer's script, "" for nobody; nil: ask presence, which counts an
-- entry only while its node's heartbeat lives), batched by node (send_news). Pub/sub is the
-- fallback when this node has no cluster (a single node without cluster config) and when the
-- call fails (the peer may still reach Redis); the news carries the record's version, so a copy
-- that arrives twice changes no balance (the line may show twice). Nobody online, or logging in
-- here: nothing to tell (their login reads the balance). Never raises; yields only when `where`
-- is nil.
local function gold_news(to, from, amount, gold, version, where)
    if where == nil and cluster_open then
        local found, w = pcall(here.where, here, to)
        if found then where = w or "" end
    end
    if where == "" or where == node then return end
    local n = { to, from, amount, gold, version }
    if where and cluster_open then
        local list = outbox[where]
        if list then
            list[#list + 1] = n
        else
            outbox[where] = { n }
            skynet.fork(send_news, where)
        end
        return
    end
    skynet.fork(publish_news, { n })
end

-- The news of a transfer this node completed for another (bank.recover), to `to` wherever they
-- are.
local function recovered_news(to, from, amount, gold, version)
    if not deliver_gold(to, from, amount, gold, version) then
        gold_news(to, from, amount, gold, version)
    end
end

local function transfer(name, typed, amount)
    local to = typed:lower()
    local r, why, detail = bank.give(db, name, to, amount, { node = node, from = display(name) })
    gm.transfers[r and "ok" or tostring(why)]:inc()
    if not r then
        if why == "unknown" then return false, "unknown player " .. typed end
        if why == "poor" then return false, string.format("not enough gold: you have %d", detail) end
        if why == "busy" then
            return false, "busy, try again (" .. typed .. " is in another trade)"
        end
        if why == "lost" then return false, "busy, try again (the trade timed out)" end
        skynet.error(string.format("game: give %s -> %s %d: %s", name, to, amount,
            tostring(detail or why)))
        return false, "storage unavailable: the trade may or may not have happened; check gold"
    end
    local from_gold, from_version, to_gold, to_version = r[1], r[2], r[3], r[4]
    -- Memory follows in forks, which run before this service's next message when no read is
    -- needed (the common case), and otherwise do not hold up the reply.
    skynet.fork(players.adopt, players, name, { gold = from_gold }, from_version)
    if not to_gold then
        -- On a cluster the credit may be left to recovery (bank.lua): its news comes from
        -- the node that completes it.
        return true, string.format("gave %d gold to %s; you have %d gold", amount, typed,
            from_gold)
    elseif online[to] and not online[to].joining then
        skynet.fork(players.adopt, players, to, { gold = to_gold }, to_version)
        notice(to, string.format("[gold] %s gave you %d gold; you have %d", display(name), amount,
            to_gold))
    elseif r.told then
        -- On one server the transfer published the news on the channel of the node that has
        -- them, and that node listens there: it adopts the new balance and tells them.
        gm.news.channel:inc()
    else
        -- Wherever they are: the node that has them adopts the new balance and tells them.
        if r.where then
            gold_news(to, display(name), amount, to_gold, to_version, r.where)
        else
            skynet.fork(gold_news, to, display(name), amount, to_gold, to_version)
        end
    end
    return true, string.format("gave %d gold to %s; you have %d gold", amount, typed, from_gold)
end

function CMD.give(name, to, amount)
    if not online[name] then return false, "not logged in" end
    if stopping then return false, "the server is shutting down" end
    if to:lower() == name then return false, "you cannot give gold to yourself" end
    if not math.tointeger(amount) or amount < 1 or amount > MAX_AMOUNT then
        return false, "amount must be a whole number from 1 to " .. MAX_AMOUNT
    end
    in_flight = in_flight + 1
    local ok, done, text = pcall(transfer, name, to, amount)
    in_flight = in_flight - 1
    if in_flight == 0 and drained then skynet.wakeup(drained) end
    if not ok then
        gm.transfers.error:inc()
        error(done, 0)
    end
    return done, text
end

function CMD.say(name, text)
    local rec = players:get(name)
    if not rec then return false, "not logged in" end
    local ok, err = pcall(db.publish, db, gdb.CHAT,
        table.concat({ node, rec.name or name, text }, "\t"))
    if not ok then return false, "storage unavailable, try again (" .. tostring(err) .. ")" end
    players:set(name, "said", (rec.said or 0) + 1)
    return true, "you say: " .. text
end

-- A private message to a player online on any node: a notice at once when they are here, else
-- a cluster call to the world of the node that has them, which answers whether it delivered.
function CMD.tell(name, typed, text)
    local rec = players:get(name)
    if not rec or not online[name] then return false, "not logged in" end
    if type(text) ~= "string" or text == "" then return false, "usage: tell <player> <text>" end
    if #text > MAX_TELL then
        return false, string.format("too long: a tell is at most %d bytes", MAX_TELL)
    end
    local to = typed:lower()
    if to == name then return false, "you cannot tell yourself" end
    local from = rec.name or name
    local o = online[to]
    if o and not o.joining then
        notice(to, string.format("[tell] %s@%s: %s", from, node, text))
        return true, "told " .. display(to)
    end
    local found, where = pcall(here.where, here, to)
    if not found then
        return false, "storage unavailable, try again (" .. tostring(where) .. ")"
    end
    if not where or where == node then return false, typed .. " is not online" end
    if not cluster_open then
        return false, string.format("%s is on %s, which this node cannot reach (no cluster)",
            typed, where)
    end
    local ok, delivered, shown = pcall(cluster.call, where, "@world", "peer_tell", to, from,
        node, text)
    if not ok then
        return false, string.format("%s is unreachable: %s", where, tostring(delivered))
    end
    if not delivered then return false, typed .. " is not online" end
    return true, "told " .. tostring(shown or typed)
end

-- From another node's world (through the cluster): a tell to a player who may be here.
function CMD.peer_tell(to, from, from_node, text)
    if type(to) ~= "string" or type(from) ~= "string" or type(from_node) ~= "string"
        or type(text) ~= "string" then
        error("peer_tell: to, from, from_node and text must be strings", 0)
    end
    local o = online[to]
    if not o or o.joining then return false end
    notice(to, string.format("[tell] %s@%s: %s", from, from_node, text:sub(1, MAX_TELL)))
    return true, display(to)
end

local function check_gold(cmd, to, from, amount, gold, version)
    if type(to) ~= "string" or type(from) ~= "string" or not math.tointeger(amount)
        or not math.tointeger(gold) or not math.tointeger(version) then
        error(cmd .. ": to, from (strings), amount, gold, version (integers) expected", 0)
    end
end

function CMD.peer_gold(to, from, amount, gold, version)
    check_gold("peer_gold", to, from, amount, gold, version)
    return deliver_gold(to, from, amount, gold, version)
end

-- A batch of news, in the order it was made: {{to, from, amount, gold, version}, ...}. The
-- whole batch is checked before any is delivered. -> how many players were here
function CMD.peer_golds(list)
    if type(list) ~= "table" then error("peer_golds: a list of news expected", 0) end
    for i = 1, #list do
        local n = list[i]
        if type(n) ~= "table" then error(string.format("peer_golds: news %d is not a list", i), 0) end
        check_gold(string.format("peer_golds: news %d", i), n[1], n[2], n[3], n[4], n[5])
    end
    local here_now = 0
    for i = 1, #list do
        local n = list[i]
        if deliver_gold(n[1], n[2], n[3], n[4], n[5]) then here_now = here_now + 1 end
    end
    return here_now
end

-- Never answered: game.lua learns of this service's end by the error.
function CMD.watch()
    skynet.wait(coroutine.running())
end

function CMD.stop()
    if stopping then return end
    stopping = true
    if in_flight > 0 then
        drained = coroutine.running()
        skynet.wait(drained)
    end
    bank.settle()
    -- Everyone is saved in one batch; each player hears whether their save succeeded, and only
    -- after it did.
    players:flush_all()
    for name, o in pairs(online) do
        if players:get(name) and players:dirty(name) then
            skynet.error(string.format("game: %s could not be saved at shutdown", name))
            skynet.send(o.agent, "lua", "kick",
                "[server] shutting down; your progress could not be saved (storage unavailable)")
        else
            skynet.send(o.agent, "lua", "kick", "[server] shutting down; your progress is saved")
        end
        leave(name, o)
    end
    -- Records of players who left while Redis was away count too.
    local failed = 0
    for _, id in ipairs(players:ids()) do
        if players:dirty(id) then failed = failed + 1 end
    end
    -- Trying the failed ones again here would only push the stop towards the node's
    -- shutdown_timeout, after which it exits without reporting the failure.
    if failed == 0 then failed = players:close() end
    local ok, err = pcall(here.stop, here)
    if cluster_open then
        -- Peers see this node leave now rather than after cluster_ttl.
        local left, why = pcall(cluster.leave)
        if not left then skynet.error("game: leaving the cluster: " .. tostring(why)) end
    end
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
        if not o.joining and not (from_node == node and who == name:lower()) then
            skynet.send(o.agent, "lua", "notice", line)
        end
    end
end

local function on_notify(payload)
    local to, from, amount, gold, version = payload:match("^([^\t]+)\t([^\t]+)\t(%d+)\t(-?%d+)\t(%d+)$")
    if not to then return end
    deliver_gold(to, from, amount, math.tointeger(tonumber(gold)),
        math.tointeger(tonumber(version)))
end

local function listen()
    local news_here = gdb.news_channel(node)
    while true do
        local msg, channel = watch:message()
        if channel == gdb.CHAT then
            on_chat(msg)
        elseif channel == gdb.NOTIFY or channel == news_here then
            skynet.fork(on_notify, msg)
        end
    end
end

-- When game.lua is gone (killed by force), nothing would save the players at SIGTERM: the
-- world takes its name and its part of the shutdown (the gate is left running; logins are
-- refused from the stop on).
local function stand_in()
    if not game then return end
    local _, err = pcall(skynet.call, game, "lua", "watch")
    if stopping or require("skynet.core").info(game) then return end
    skynet.error(string.format("game: %s ended (%s); the world handles .shutdown now",
        skynet.address(game), tostring(err)))
    local function shutdown()
        local ok, failed = pcall(CMD.stop)
        skynet.abort((ok and (failed or 0) == 0) and 0 or 1)
    end
    local ok, why = pcall(game_shutdown.take, shutdown)
    if not ok then skynet.error("game: cannot take .shutdown: " .. tostring(why)) end
end

skynet.start(function()
    socket.inline(true)
    local opts = gdb.options()
    db = gdb.connect(opts)
    assert(START_GOLD and START_GOLD >= 0, "world: game_start_gold must be a whole number >= 0")
    players = store.new(db, {
        key = gdb.player_key,
        defaults = { gold = 0, said = 0, logins = 0 },
        numbers = { "last_login" },
        interval = FLUSH_CS,
        on_conflict = on_conflict,
        on_save = function(_, outcome) gm.saves[outcome]:inc() end,
    })
    -- Transfers take locks: the node's lock board service starts with the world, not at the
    -- first give.
    require("skynet.db.redis.lock_board").start()
    here = presence.new(db, node, function() return online end)
    here:start()
    watch = gdb.watch(opts)
    if NOTIFY_PUBSUB then
        watch:subscribe(gdb.CHAT, gdb.NOTIFY, gdb.news_channel(node))
    else
        watch:subscribe(gdb.CHAT)
    end
    if CLUSTER then
        -- After presence: the node name is ours. A world started again finds the cluster open.
        cluster.open(node)
        cluster_open = true
    end
    skynet.fork(listen)
    if gdb.CLUSTER then
        -- Transfers left between their steps by a node that died are completed by any node.
        skynet.fork(function()
            while not stopping do
                local ok, err = pcall(bank.recover, db, recovered_news)
                if not ok then skynet.error("game: transfer recovery: " .. tostring(err)) end
                skynet.sleep(RECOVER_CS)
            end
        end)
    end
    skynet.error(string.format("game: %s uses Redis at %s", node, gdb.describe(opts)))
    skynet.register(string.format(".critical.%08x", skynet.self()))
    skynet.fork(stand_in)
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error("world: unknown command " .. tostring(cmd)) end
        skynet.retpack(f(...))
    end)
    if cluster_open then
        -- Once this world dispatches: the entry calls it (watch) as it starts.
        cluster.register("world", skynet.newservice("world_peer", skynet.self()))
    end
end)
