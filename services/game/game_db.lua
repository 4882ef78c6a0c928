-- The game's Redis: where it is (from the config), the key names, and the scripts that make
-- presence and gold transfers atomic on the server.
--
-- Config keys (the node's env):
--   redis = "host:port"                  a standalone server (main.cpp sets it when it started
--                                        a local redis-server itself)
--   redis_sentinels = "h:p,h:p,..."      or Sentinel: the sentinels and
--   redis_master = "name"                the master's name
--   redis_auth, redis_db                 password and database, for either
--
-- Key layout (all under "game:"):
--   game:player:<id>     hash: name (as first registered), pwhash (account.lua), gold, version,
--                        owner, logins, said, last_login (the store's record). <id> is the
--                        name in lower case: names are unique whatever their case.
--   game:fails:name:<id>, game:fails:addr:<host>   failed logins in the current minute
--   game:lock:<name>     the player's lock (skynet.db.redis.lock adds :queue, :released...)
--   game:online          hash: player -> node that has them logged in
--   game:node:<node>     a node's heartbeat, PX 3 s: presence entries of a node whose
--                        heartbeat is gone are dead
--   game:ledger          stream of applied transfers (from, to, amount), trimmed to ~100000
--   game:chat, game:notify   pub/sub channels between the nodes
--
-- The scripts read keys they are not given in KEYS (the heartbeat of whichever node a player
-- is on), which a single master allows and Redis Cluster would not.
--
-- Thread: any service; each connects its own client.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local M = {}

M.PREFIX = "game:"
M.ONLINE = "game:online"
M.LEDGER = "game:ledger"
M.CHAT = "game:chat"
M.NOTIFY = "game:notify"
M.NODE_PREFIX = "game:node:"
M.PLAYER_PREFIX = "game:player:"

function M.player_key(name) return M.PLAYER_PREFIX .. name end
function M.lock_key(name) return "game:lock:" .. name end
function M.node_key(node) return M.NODE_PREFIX .. node end
function M.fails_key(kind, what) return "game:fails:" .. kind .. ":" .. what end

local function address(text, what)
    local host, port = text:match("^%[?([^%]]-)%]?:(%d+)$")
    if not host then error(string.format("config %s = %q: host:port expected", what, text), 0) end
    return host, math.tointeger(tonumber(port))
end

-- The client options the config describes; raises a clear text when it describes none.
function M.options()
    local opts = {
        auth = skynet.getenv "redis_auth",
        db = math.tointeger(tonumber(skynet.getenv "redis_db" or "")),
        timeout = 3000,
    }
    local sentinels = skynet.getenv "redis_sentinels"
    if sentinels then
        opts.sentinels = {}
        for item in sentinels:gmatch("[^,%s]+") do
            address(item, "redis_sentinels")
            opts.sentinels[#opts.sentinels + 1] = item
        end
        opts.master = skynet.getenv "redis_master" or "mymaster"
        return opts
    end
    local where = skynet.getenv "redis"
    if not where then
        error("no Redis configured: set redis = \"host:port\", redis_sentinels + redis_master, "
            .. "or local_redis = \"dir\" to have the node start one", 0)
    end
    opts.host, opts.port = address(where, "redis")
    return opts
end

-- Where the config points, for log lines.
function M.describe(opts)
    if opts.sentinels then
        return string.format("master %s via sentinels %s", opts.master,
            table.concat(opts.sentinels, ","))
    end
    return string.format("%s:%d", opts.host, opts.port)
end

-- A client of the configured Redis. Raises the client's text when the first connection fails.
-- Yields.
function M.connect(opts)
    opts = opts or M.options()
    if opts.sentinels then
        if not redis.sentinel then
            error("redis_sentinels is set but this build has no Sentinel client (redis.sentinel)", 0)
        end
        return redis.sentinel(opts)
    end
    return redis.connect(opts)
end

-- A pub/sub watcher of the configured Redis. Yields.
function M.watch(opts)
    opts = opts or M.options()
    return redis.watch(opts)
end

----------------------------------------------------------------------------------------------
-- Presence

-- KEYS: online. ARGV: player, node, node key prefix.
-- -> {1} claimed (or already ours) | {0, node} logged in on another live node.
M.CLAIM = redis.script [[
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] and redis.call('EXISTS', ARGV[3] .. cur) == 1 then
    return {0, cur}
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

-- KEYS: online. ARGV: node key prefix, player key prefix. -> {display name, node, ...} of live
-- nodes; entries of dead nodes are removed on the way.
M.WHO = redis.script [[
local all = redis.call('HGETALL', KEYS[1])
local alive, out = {}, {}
for i = 1, #all, 2 do
    local node = all[i + 1]
    if alive[node] == nil then alive[node] = redis.call('EXISTS', ARGV[1] .. node) == 1 end
    if alive[node] then
        out[#out + 1] = redis.call('HGET', ARGV[2] .. all[i], 'name') or all[i]
        out[#out + 1] = node
    else
        redis.call('HDEL', KEYS[1], all[i])
    end
end
return out
]]

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

-- KEYS: name counter, address counter. ARGV: name limit, address limit.
-- -> 0 when logins may be tried, else the ms until the fuller counter's minute ends
M.FAILS_CHECK = redis.script [[
local wait = 0
for i = 1, 2 do
    local n = tonumber(redis.call('GET', KEYS[i]) or '0')
    if n >= tonumber(ARGV[i]) then wait = math.max(wait, redis.call('PTTL', KEYS[i])) end
end
return wait
]]

-- KEYS: name counter, address counter. ARGV: window ms. Counts one failed login.
M.FAILS_ADD = redis.script [[
for i = 1, 2 do
    if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return 1
]]

----------------------------------------------------------------------------------------------
-- Transfers

-- KEYS: from record, to record, first lock, second lock (sorted by player name), ledger.
-- ARGV: amount, first lock's token, second lock's token, from name, to name.
-- Checks that both locks are still held by us, that both players exist and that `from` has the
-- gold, then moves it and bumps both versions, all or nothing.
-- -> {1, from gold, from version, to gold, to version} | {-1} from missing | {-2} to missing
--    | {-3} a lock was lost | {-4, from gold} not enough gold
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
return {1, fg, fv, tg, tv}
]]

return M
