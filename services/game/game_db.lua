-- The game's Redis: where it is (from the config), the key names, and the scripts that make
-- presence and gold transfers atomic on the server.
--
-- Where the Redis is comes from the node's config (redis, redis_sentinels + redis_master,
-- redis_cluster, redis_auth, redis_db): see lualib/skynet/db/redis/config.lua.
--
-- Key layout on one server (standalone or Sentinel; all under "game:"):
--   game:player:<id>     hash: name (as first registered), pwhash (account.lua), gold, version,
--                        owner, logins, said, last_login (the store's record). <id> is the
--                        name in lower case: names are unique whatever their case.
--   game:fails:name:<id>, game:fails:addr:<host>   failed logins in the current minute
--   game:lock:<name>     the player's lock (skynet.db.redis.lock adds :queue, :released...)
--   game:online          hash: player -> node that has them logged in
--   game:node:<node>     a node's heartbeat, PX 3 s: presence entries of a node whose
--                        heartbeat is gone are dead
--   game:ledger          stream of applied transfers (from, to, amount), trimmed to ~100000
--   game:chat, game:notify   pub/sub channels between the nodes; game:notify:<node> the
--                        [gold] news for that node's players (published by the transfer)
--
-- On Redis Cluster every script's keys must be in one slot, so the keys carry hash tags:
--   game:player:{<id>}, game:lock:{<id>}    a player's record and lock, in the player's slot,
--   game:xfer:{<id>}                        with the transfers they gave that are not settled
--                                           (hash id -> "<to>\t<amount>"), and
--   game:credited:{<id>}                    the ids of transfers credited to them, until
--                                           settled (set)
--   game:{presence}:online, game:{presence}:node:<node>   presence, in one slot
--   game:{ledger}, game:{ledger}:ids, game:{ledger}:pending   the ledger (with a transfer id
--                        per entry), the ids it holds, and the transfers in flight (sorted set
--                        "<id>\t<from>\t<to>" scored by the server ms they began)
--   game:fails:...       single keys, anywhere
-- A transfer between two players is then several scripts (see bank.lua); docs/architecture.md,
-- "The game on Redis Cluster", says what a reader may see in between.
--
-- Scripts are given every key they touch in KEYS (a cluster requires it): the presence scripts
-- learn which heartbeat keys they need from an earlier reply when they guessed wrong.
--
-- Thread: any service; each connects its own client.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local rconfig = require "skynet.db.redis.config"

local M = {}

M.CLUSTER = skynet.getenv "redis_cluster" ~= nil
M.CHAT = "game:chat"
M.NOTIFY = "game:notify"
M.PREFIX = "game:"

if M.CLUSTER then
    M.ONLINE = "game:{presence}:online"
    M.NODE_PREFIX = "game:{presence}:node:"
    M.LEDGER = "game:{ledger}"
    M.LEDGER_IDS = "game:{ledger}:ids"
    M.PENDING = "game:{ledger}:pending"
    function M.player_key(id) return "game:player:{" .. id .. "}" end
    function M.lock_key(id) return "game:lock:{" .. id .. "}" end
    function M.xfer_key(id) return "game:xfer:{" .. id .. "}" end
    function M.credited_key(id) return "game:credited:{" .. id .. "}" end
else
    M.ONLINE = "game:online"
    M.NODE_PREFIX = "game:node:"
    M.LEDGER = "game:ledger"
    function M.player_key(id) return "game:player:" .. id end
    function M.lock_key(id) return "game:lock:" .. id end
end

function M.node_key(node) return M.NODE_PREFIX .. node end
-- The channel where node `node`'s world hears the [gold] news of gives made elsewhere (one
-- server: published by the transfer script itself).
function M.news_channel(node) return M.NOTIFY .. ":" .. node end
function M.fails_key(kind, what) return "game:fails:" .. kind .. ":" .. what end

-- Where the game's Redis is, and its clients: the node's Redis (skynet.db.redis.config, which
-- the cluster's membership uses too).
M.options = rconfig.options
M.describe = rconfig.describe
M.connect = rconfig.connect
M.watch = rconfig.watch

----------------------------------------------------------------------------------------------
-- Presence

-- KEYS: online, heartbeat of node `guess`. ARGV: player, node, guess (the node the caller
-- thinks has the player, whose heartbeat it passed).
-- -> {1} claimed (or already ours) | {0, node} logged in on another live node | {-1, node}
--    the player is on that node, whose heartbeat was not passed: ask again with it.
M.CLAIM = redis.script [[
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then
    if cur ~= ARGV[3] then return {-1, cur} end
    if redis.call('EXISTS', KEYS[2]) == 1 then return {0, cur} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1}
]]

-- KEYS: online. ARGV: player, node. Removes the entry if it is this node's. -> 1 | 0
M.RELEASE = redis.script [[
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
]]

-- KEYS: online. ARGV: node. Removes every entry of the node. -> how many
M.CLEAR_NODE = redis.script [[
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
    if all[i + 1] == ARGV[1] then
        redis.call('HDEL', KEYS[1], all[i])
        n = n + 1
    end
end
return n
]]

-- KEYS: online, then the heartbeat keys of some nodes. ARGV: those nodes' names, in the same
-- order. -> {1, player, node, ...} of live nodes, entries of dead nodes removed on the way |
-- {0, node...} entries name these nodes too, whose heartbeats were not passed (nothing done).
M.WHO = redis.script [=[
local beat = {}
for i = 2, #KEYS do beat[ARGV[i - 1]] = KEYS[i] end
local all = redis.call('HGETALL', KEYS[1])
local missing, seen = {0}, {}
for i = 2, #all, 2 do
    local node = all[i]
    if not beat[node] and not seen[node] then
        seen[node] = true
        missing[#missing + 1] = node
    end
end
if #missing > 1 then return missing end
local alive, out = {}, {1}
for i = 1, #all, 2 do
    local node = all[i + 1]
    if alive[node] == nil then alive[node] = redis.call('EXISTS', beat[node]) == 1 end
    if alive[node] then
        out[#out + 1] = all[i]
        out[#out + 1] = node
    else
        redis.call('HDEL', KEYS[1], all[i])
    end
end
return out
]=]

-- KEYS: online. ARGV: node, then the players this node has (logged in or logging in).
-- Removes the node's entries of anyone else: releases that failed (Redis was away) or were
-- never made. -> how many were removed
M.SYNC_NODE = redis.script [=[
local keep = {}
for i = 2, #ARGV do keep[ARGV[i]] = true end
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
    if all[i + 1] == ARGV[1] and not keep[all[i]] then
        redis.call('HDEL', KEYS[1], all[i])
        n = n + 1
    end
end
return n
]=]

-- KEYS: node key. ARGV: instance, ttl ms. Takes or renews the node's heartbeat.
-- -> 1 ours | 0 held by another instance (a previous run not expired yet, or a second process
-- with the same node name)
M.HEARTBEAT = redis.script [[
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
]]

-- KEYS: node key. ARGV: instance. Deletes the heartbeat if it is ours.
M.STOP_NODE = redis.script [[
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
]]

----------------------------------------------------------------------------------------------
-- Accounts

-- KEYS: player record. ARGV: field, value pairs. Creates the whole record (version 1) unless it
-- exists. -> 1 created | 0 it existed
M.CREATE = redis.script [[
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', 1, unpack(ARGV))
return 1
]]

-- KEYS: player record. ARGV: the version the world read, then field, value pairs. Writes them
-- and bumps the version if the record is still at that version.
-- -> {1, new version} | {0} the record changed (or is gone)
M.LOGIN = redis.script [[
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v == 0 or v ~= tonumber(ARGV[1]) then return {0} end
redis.call('HSET', KEYS[1], 'version', v + 1, unpack(ARGV, 2))
return {1, v + 1}
]]

-- The name's and the address's counters are separate keys (on a cluster, in any two slots):
-- each script takes one.

-- KEYS: a counter. ARGV: its limit. -> 0 when logins may be tried, else the ms until the
-- counter's minute ends
M.FAILS_CHECK = redis.script [[
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return math.max(1, redis.call('PTTL', KEYS[1])) end
return 0
]]

-- KEYS: a counter. ARGV: window ms. Counts one failed login.
M.FAILS_ADD = redis.script [[
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
]]

----------------------------------------------------------------------------------------------
-- Transfers

-- KEYS: from record, to record, first lock, second lock (sorted by player name), ledger,
-- presence (game:online).
-- ARGV: amount, first lock's token, second lock's token, from name, to name; optionally the
-- caller's node, the giver's name as shown and the news channels' prefix (M.news_channel).
-- Checks that both locks are still held by us, that both players exist and that `from` has the
-- gold, then moves it and bumps both versions, all or nothing. The receiver's presence entry
-- comes back with it. With the last three ARGV, when that entry names another node, the news
-- ("to\tfrom\tamount\tgold\tversion") is published on that node's channel here, in the order
-- the gold moved, and how many listened comes back: 0 leaves the news to the caller.
-- -> {1, from gold, from version, to gold, to version, node that has `to` online or "",
--     listeners of the news published (0: none published or nobody heard)}
--    | {-1} from missing | {-2} to missing | {-3} a lock was lost | {-4, from gold} not enough
--    gold
M.TRANSFER = redis.script [[
if redis.call('GET', KEYS[3]) ~= ARGV[2] or redis.call('GET', KEYS[4]) ~= ARGV[3] then
    return {-3}
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {-2} end
local amount = tonumber(ARGV[1])
local gold = tonumber(redis.call('HGET', KEYS[1], 'gold') or '0')
if gold < amount then return {-4, gold} end
local fg = redis.call('HINCRBY', KEYS[1], 'gold', -amount)
local fv = redis.call('HINCRBY', KEYS[1], 'version', 1)
local tg = redis.call('HINCRBY', KEYS[2], 'gold', amount)
local tv = redis.call('HINCRBY', KEYS[2], 'version', 1)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', 100000, '*', 'from', ARGV[4], 'to', ARGV[5],
    'amount', amount)
local where = redis.call('HGET', KEYS[6], ARGV[5]) or ''
local heard = 0
if ARGV[8] and where ~= '' and where ~= ARGV[6] then
    heard = redis.call('PUBLISH', ARGV[8] .. where,
        ARGV[5] .. '\t' .. ARGV[7] .. '\t' .. amount .. '\t' .. tg .. '\t' .. tv)
end
return {1, fg, fv, tg, tv, where, heard}
]]

----------------------------------------------------------------------------------------------
-- Transfers on Redis Cluster: the steps of bank.lua, each a script in one slot. Every step
-- that changes a player's keys checks that the caller holds that player's lock, so only one
-- actor at a time (the transfer's node, or the node recovering it) can take a step, and a
-- paused node's late commands change nothing.

-- KEYS: transfers in flight. ARGV: "<id>\t<from>\t<to>". Indexes a transfer before its debit,
-- scored by the server ms. -> 1
M.XFER_BEGIN = redis.script [[
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
return 1
]]

-- KEYS: transfers in flight. ARGV: age ms, how many. -> members indexed at least age ms ago
M.XFER_OLD = redis.script [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, ARGV[2])
]]

-- KEYS: from record, from lock, from's unsettled transfers. ARGV: amount, lock token, id, to.
-- Takes the gold and records the transfer as unsettled, in one script.
-- -> {1, from gold, from version} | {-1} from missing | {-3} the lock is not ours
--    | {-4, from gold} not enough gold
M.DEBIT = redis.script [[
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {-3} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local amount = tonumber(ARGV[1])
local gold = tonumber(redis.call('HGET', KEYS[1], 'gold') or '0')
if gold < amount then return {-4, gold} end
local fg = redis.call('HINCRBY', KEYS[1], 'gold', -amount)
local fv = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4] .. '\t' .. ARGV[1])
return {1, fg, fv}
]]

-- KEYS: to record, to lock, to's credited ids. ARGV: amount, lock token, id.
-- Gives the gold once per id. -> {1, to gold, to version} credited now | {0, gold, version}
-- credited before | {-3} the lock is not ours
M.CREDIT = redis.script [[
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {-3} end
if redis.call('SISMEMBER', KEYS[3], ARGV[3]) == 1 then
    return {0, tonumber(redis.call('HGET', KEYS[1], 'gold') or '0'),
        tonumber(redis.call('HGET', KEYS[1], 'version') or '0')}
end
local tg = redis.call('HINCRBY', KEYS[1], 'gold', tonumber(ARGV[1]))
local tv = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('SADD', KEYS[3], ARGV[3])
return {1, tg, tv}
]]

-- KEYS: ledger, ledger ids. ARGV: id, from, to, amount. Appends once per id. -> 1 | 0 (had it)
M.LEDGER_ADD = redis.script [[
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', 100000, '*', 'from', ARGV[2], 'to',
    ARGV[3], 'amount', ARGV[4], 'id', ARGV[1])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
local n = redis.call('ZCARD', KEYS[2])
if n > 100000 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - 100001) end
return 1
]]

-- KEYS: a player's unsettled transfers or credited ids, that player's lock. ARGV: id, token.
-- Forgets the id (HDEL or SREM by the key's type). -> 1 | 0 | -3 the lock is not ours
M.SETTLE = redis.script [[
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -3 end
if redis.call('TYPE', KEYS[1]).ok == 'set' then return redis.call('SREM', KEYS[1], ARGV[1]) end
return redis.call('HDEL', KEYS[1], ARGV[1])
]]

return M
