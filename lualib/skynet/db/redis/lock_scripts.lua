-- The server-side scripts of skynet.db.redis.lock and skynet.db.redis.semaphore.
--
-- Every compare-and-act step is one script, so no other client's command can fall between the
-- compare and the act. They run by EVALSHA with the NOSCRIPT fallback of redis.script, so a
-- SCRIPT FLUSH or a restart only costs one EVAL. Scripts that read TIME (queue pruning, semaphore
-- expiry) rely on effects replication, the only mode of Redis 7 and the default since 5.
--
-- Key layout of a lock named K (see docs/lua-api.md, "Locks"):
--   K             the holder's token, SET NX PX ttl
--   K:fence       fence counter, INCR on every fenced acquisition; never expires
--   K:queue       waiters' tokens, scored by arrival order
--   K:qexp        waiters' tokens, scored by the server time (ms) they expire at
--   K:waiters     the tokens of non-fair waiters (a set, no order): a refused non-fair try
--                 adds its own, a release adds those that joined its holder (lock.lua) and
--                 pops one to hand the lock to
--   K:released    pub/sub channel: a read-write lock's release with no waiter queued publishes
--                 "" (its readers and writers wait there)
--   K:released:P  pub/sub channel of the waiters of the service whose tokens start with P: a
--                 release hands the lock to the first fair waiter and publishes
--                 "<token> <fence> <time>" there, or publishes "<token>" for a fair waiter
--                 that must try by itself (min_replicas), or "" to wake one non-fair waiter
--                 there
-- A fenced resource R keeps R:fenced, the highest fence that has written to it (never expires).
-- On a cluster K and R are the tagged names of scripts.base.
-- A semaphore S is one sorted set: holders' tokens scored by their expiry (server ms).
--
-- Replies are arrays of integers so that they survive RESP unchanged.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local scripts = {}

-- Besides the scripts, two helpers the lock, read-write lock and semaphore modules share.

-- This run of the node: eight hex digits shared by every service of the node (set once in its
-- environment, whichever service asks first), so that a token tells whether its service is
-- one of this node's.
local this_node
-- scripts.node_tag() -> that tag.
function scripts.node_tag()
    if this_node then return this_node end
    if not skynet.getenv "lock_node_tag" then
        pcall(skynet.setenv, "lock_node_tag",
            string.format("%08x", (math.random(0, 0x7fffffff) ~ skynet.hpc()) & 0x7fffffff))
    end
    this_node = skynet.getenv "lock_node_tag"
    return this_node
end

-- A token source for one module of one service: returns the prefix
-- "<harbor>.<service>.<tag><node><random>" and a function that makes "<prefix>.<n>", so that
-- two services (or two runs of one service) never share a token and a retried acquire
-- recognises its own. The scripts find the service part of a token as everything before its
-- last ".". `tag` is "" or one letter past "f" (it must not read as the node's hex digits).
function scripts.tokens(tag)
    assert(tag:match("^[g-z]?$"), "scripts.tokens: tag must be empty or one letter g-z")
    local prefix = string.format("%s.%x.%s%s%08x", skynet.getenv("harbor") or "0", skynet.self(),
        tag, scripts.node_tag(), (math.random(0, 0x7fffffff) ~ skynet.hpc()) & 0x7fffffff)
    local counter = 0
    return prefix, function()
        counter = counter + 1
        return prefix .. "." .. counter
    end
end

-- The handle of the service of this node that made `token` (by scripts.tokens), or nil when
-- another node (or nobody) made it.
function scripts.local_service(token)
    local handle, rest = token:match("^[^.]*%.(%x+)%.[g-z]?(%x%x%x%x%x%x%x%x)")
    if not handle or rest ~= scripts.node_tag() then return nil end
    return tonumber(handle, 16)
end

-- Redis Cluster. Every key of one lock (K, K:fence, K:queue, K:qexp; K:readers, K:wintent for a
-- read-write lock; R:fenced for a fenced resource) must be in one slot, since each script
-- touches several of them. On a cluster client a name without a hash tag is therefore used as
-- "{name}": its keys then share the slot of the key named like the lock itself. A name that
-- carries a tag already ("{player:7}:lock") is used as it is, so a lock can be put in the slot
-- of the data it guards. Standalone and Sentinel clients keep the names unchanged.

-- True for a client made by redis.cluster (the only clients with a db:nodes() of their own;
-- any other key of a client reads as a command).
function scripts.is_cluster(db)
    return type(db) == "table" and type(rawget(db, "nodes")) == "function"
end

-- Redis's rule: the part between the first "{" and the first "}" after it, when not empty.
function scripts.has_tag(name)
    local open = name:find("{", 1, true)
    if not open then return false end
    local close = name:find("}", open + 1, true)
    return close ~= nil and close > open + 1
end

-- The key a lock (or fenced resource) named `name` is kept under on db's server.
function scripts.base(db, name)
    if not scripts.is_cluster(db) or scripts.has_tag(name) then return name end
    return "{" .. name .. "}"
end

-- How a release on db tells the waiters on `channel`, passed to the scripts that publish (the
-- argument their comments call the notice mode):
--   "1"  one server (standalone, Sentinel): PUBLISH, whose count is every listener's;
--   "s"  a cluster, the channel carrying a hash tag (every lock's and read-write lock's does,
--        scripts.base): SPUBLISH, Redis 7's shard channels. The channel is in the slot of the
--        keys the script touches, so the master running the script delivers the notice to the
--        watcher subscribed on it (SSUBSCRIBE) itself; a classic PUBLISH would cross the
--        cluster bus to every other node, replicas included, to reach a watcher on one of
--        them. A server without SPUBLISH (Redis 6) makes the scripts PUBLISH instead, and the
--        waiters' watchers subscribe classically there too (lock_wait.lua);
--   "0"  a cluster, an untagged channel (a semaphore named without a tag: its key is used as
--        given): PUBLISH, which every node delivers.
function scripts.notice_mode(db, channel)
    if not scripts.is_cluster(db) then return "1" end
    return scripts.has_tag(channel) and "s" or "0"
end

-- The options of the pub/sub watcher that hears db's release notices. On a cluster client it is
-- a cluster watcher (redis.watch { cluster = seeds }): classic channels on any node, shard
-- channels on their slot's master.
function scripts.watch_opts(db)
    local opts = db.opts
    if not scripts.is_cluster(db) then return opts end
    local w = {}
    for k, v in pairs(opts) do w[k] = v end
    w.cluster = opts.nodes
    return w
end

-- Runs a script; returns its reply, or nil and the client's error text.
function scripts.run(script, db, ...)
    local ok, r = pcall(script, db, ...)
    if ok then return r end
    return nil, r
end

-- Shared by the scripts that keep waiters (K:waiters, K:queue, K:qexp): keep(key, ms) makes the
-- key live at least ms from now and never shortens it, so that waiters with different retry
-- settings (queue ttls) do not cut each other's: the longest one's stands.
local KEEP = [[
local function keep(key, ms)
    ms = tonumber(ms)
    if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
]]

-- Shared by the scripts that touch a fair queue: the server time in ms, queueing a waiter, and
-- the first live waiter. Waiters whose expiry has passed (they stopped polling: their service or
-- process is gone) are dropped only when one of them is at the head, the one place where a dead
-- waiter matters; the others go with a later head or with the queue's own expiry. So a queue
-- read costs a ZRANGE, a ZSCORE and a TIME, not a range scan.
local PRUNE = KEEP .. [[
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Queues waiter w at the end (unless queued already) with expiry exp (server ms).
local function enqueue(queue, qexp, w, exp)
    if redis.call('ZSCORE', queue, w) == false then
        local last = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
        local seq = 1
        if last[2] then seq = tonumber(last[2]) + 1 end
        redis.call('ZADD', queue, seq, w)
    end
    redis.call('ZADD', qexp, exp, w)
end
local function live_head(queue, qexp)
    local now
    while true do
        local head = redis.call('ZRANGE', queue, 0, 0)[1]
        if not head then return nil end
        local exp = redis.call('ZSCORE', qexp, head)
        now = now or now_ms()
        if exp and tonumber(exp) > now then return head end
        if exp then
            local dead = redis.call('ZRANGEBYSCORE', qexp, '-inf', now)
            redis.call('ZREM', queue, unpack(dead))
            redis.call('ZREM', qexp, unpack(dead))
        else
            redis.call('ZREM', queue, head)
        end
    end
end
]]

-- Shared by the scripts that publish a release notice: notice(ch, msg) publishes as the notice
-- mode in ARGV[3] says (scripts.notice_mode) and returns how many listeners heard it on this
-- server. Mode "s" sends SPUBLISH; a server that refuses it (no shard channels before Redis
-- 7) gets PUBLISH instead, which its waiters, subscribed classically there, hear.
scripts.NOTICE = [[
local function notice(ch, msg)
    if ARGV[3] == 's' then
        local n = redis.pcall('SPUBLISH', ch, msg)
        if type(n) == 'number' then return n end
    end
    return redis.call('PUBLISH', ch, msg)
end
]]

-- The lock K is free: hand it to the first live fair waiter (K:queue), else to any one
-- non-fair waiter (KEYS[5], K:waiters, popped at random), and tell that waiter's service; with
-- neither and no KEYS[5] (a read-write lock), publish "" on `channel`. A waiter token ending in
-- "/<ttl>" (and "f" when it wants a fence) is granted the lock right here (SET PX ttl, INCR
-- fence); any other is only told to try. A grant's message is
-- "<token> <fence> <sec>.<usec>", the server's TIME of the grant: a waiter whose try was refused
-- after that time knows the grant is gone (its try would have found its own token) however late
-- the message reaches it. The grant saves the waiter a round trip and cannot be
-- lost to a racing try; a waiter that died after its last poll can be granted the lock, which
-- its ttl then bounds (waiters cap it at their queue expiry). Notices go as ARGV[3], the notice
-- mode, says (scripts.notice_mode, NOTICE). When it is '1' (one server: PUBLISH counts every
-- listener; a cluster's counts only the listeners on the node running the script, which a
-- shard channel's watcher is not while its slot moves), a non-fair waiter whose service has no
-- listener on its channel (gone) is skipped: its grant is taken back, which nobody heard of,
-- and the next one popped. ARGV[4], when given, is the node tag of the caller
-- (scripts.node_tag), which wakes a waiter of its own node itself with the grant the script
-- returns: a grant to a token of that node is not published, only its listeners counted.
-- Uses KEYS[1] K, [2] K:queue, [3] K:qexp, [4] K:fence, [5] K:waiters (optional), ARGV[3],
-- ARGV[4] and the base channel `channel`.
local HANDOFF = PRUNE .. scripts.NOTICE .. [[
-- Hands K to waiter token w; returns how many listeners heard of it (or would have), and the
-- message when the lock was granted.
local function hand(channel, w)
    local service = string.match(w, '^(.+)%.[^.]*$') or w
    local ttl, fenced = string.match(w, '/(%d+)(f?)$')
    if not ttl then return notice(channel .. ':' .. service, w) end
    redis.call('SET', KEYS[1], w, 'PX', ttl)
    local fence = 0
    if fenced == 'f' then fence = redis.call('INCR', KEYS[4]) end
    local t = redis.call('TIME')
    local msg = w .. ' ' .. fence .. ' ' .. t[1] .. '.' .. t[2]
    local node = ARGV[4]
    if node and node ~= '' and
        string.match(w, '^[^.]*%.%x+%.[g-z]?(%x%x%x%x%x%x%x%x)') == node then
        -- The caller wakes it: only whether its service still listens matters.
        if ARGV[3] ~= '1' then return 1, msg end
        return redis.call('PUBSUB', 'NUMSUB', channel .. ':' .. service)[2], msg
    end
    return notice(channel .. ':' .. service, msg), msg
end
-- -> the grant's message "<token> <fence> <time>" when the lock went to a waiter, else nil.
local function handoff(channel)
    local head = live_head(KEYS[2], KEYS[3])
    if head then
        if string.match(head, '/(%d+)f?$') then
            redis.call('ZREM', KEYS[2], head)
            redis.call('ZREM', KEYS[3], head)
        end
        local _, msg = hand(channel, head)
        return msg
    end
    if not KEYS[5] then
        notice(channel, '')
        return nil
    end
    while true do
        local w = redis.call('SPOP', KEYS[5])
        if not w then return nil end
        local heard, msg = hand(channel, w)
        if heard > 0 or ARGV[3] ~= '1' then return msg end
        if redis.call('GET', KEYS[1]) == w then redis.call('DEL', KEYS[1]) end
    end
end
]]

-- A non-fair try: SET NX PX, no queue. KEYS: K, K:fence, K:waiters
-- ARGV: token, ttl ms, fencing ('1'/'0'), '1' when the caller waits, K:waiters ttl ms
-- A refused try of a waiter adds its token to K:waiters, so that a release hands it the lock
-- (or wakes it); a try that holds the lock takes its token out.
-- -> {1, fence, pttl} held by this token (also when an earlier try whose reply was lost took
--    it, or a release handed it over); {0, pttl of the holder [, sec, usec]}: a waiter's refusal
--    carries the server's TIME, to tell a grant made before it (and so gone) from a later one
scripts.try = redis.script(KEEP .. [[
local key, token = KEYS[1], ARGV[1]
if redis.call('SET', key, token, 'NX', 'PX', ARGV[2]) then
    local fence = 0
    if ARGV[3] == '1' then fence = redis.call('INCR', KEYS[2]) end
    if ARGV[4] == '1' then redis.call('SREM', KEYS[3], token) end
    return {1, fence, tonumber(ARGV[2])}
end
if redis.call('GET', key) == token then
    local fence = 0
    if ARGV[3] == '1' then fence = tonumber(redis.call('GET', KEYS[2]) or '0') end
    if ARGV[4] == '1' then redis.call('SREM', KEYS[3], token) end
    return {1, fence, redis.call('PTTL', key)}
end
if ARGV[4] == '1' then
    redis.call('SADD', KEYS[3], token)
    keep(KEYS[3], ARGV[5])
    local t = redis.call('TIME')
    return {0, redis.call('PTTL', key), tonumber(t[1]), tonumber(t[2])}
end
return {0, redis.call('PTTL', key)}
]])

-- KEYS: K, K:fence, K:queue, K:qexp
-- ARGV: token, ttl ms, fencing ('1'/'0'), mode, queue ttl ms. Modes: '1' a fair try (not
--       before queued waiters), '2' fair and queue
-- -> {1, fence, pttl} held by this token (also when an earlier try whose reply was lost took
--    it); {0, pttl of the holder (-2: free but another waiter is first), sec, usec} (the
--    server's TIME, as for scripts.try)
scripts.acquire = redis.script(PRUNE .. [[
local key, token, mode = KEYS[1], ARGV[1], ARGV[4]
local cur = redis.call('GET', key)
if cur == token then
    redis.call('ZREM', KEYS[3], token)
    redis.call('ZREM', KEYS[4], token)
    local fence = 0
    if ARGV[3] == '1' then fence = tonumber(redis.call('GET', KEYS[2]) or '0') end
    return {1, fence, redis.call('PTTL', key)}
end
-- Only a free lock needs its queue's head: a held one is refused whoever is first.
if cur == false then
    local head = live_head(KEYS[3], KEYS[4])
    if head == nil or head == token then
        redis.call('SET', key, token, 'PX', ARGV[2])
        if head then
            redis.call('ZREM', KEYS[3], token)
            redis.call('ZREM', KEYS[4], token)
        end
        local fence = 0
        if ARGV[3] == '1' then fence = redis.call('INCR', KEYS[2]) end
        return {1, fence, tonumber(ARGV[2])}
    end
end
if mode == '2' then
    local qttl = tonumber(ARGV[5])
    enqueue(KEYS[3], KEYS[4], token, now_ms() + qttl)
    keep(KEYS[3], qttl)
    keep(KEYS[4], qttl)
end
local t = redis.call('TIME')
if cur == false then return {0, -2, tonumber(t[1]), tonumber(t[2])} end
return {0, redis.call('PTTL', key), tonumber(t[1]), tonumber(t[2])}
]])

-- KEYS: K, K:queue, K:qexp, K:fence [, K:waiters]
-- ARGV: token, channel [, notice mode [, the caller's node tag [, their queue ttl ms, fair
--       '1'/'0', tokens...]]]: the tokens (waiters that joined this holder, see lock.lua) are
--       added to K:waiters (fair: queued at the end of K:queue) when the release is valid,
--       before the hand-off picks one.
-- -> 1 deleted; {1, "<token> <fence> <time>"} deleted and granted to that waiter (see
-- HANDOFF), whose service the releaser wakes itself when it is on the releaser's node (the tag
-- given); 0 the key holds another token or none.
scripts.release = redis.script(HANDOFF .. [[
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[7] then
    local qttl = ARGV[5]
    if ARGV[6] == '1' then
        -- Fair: queued behind everyone queued by now, in their order.
        local exp = now_ms() + tonumber(qttl)
        for i = 7, #ARGV do enqueue(KEYS[2], KEYS[3], ARGV[i], exp) end
        keep(KEYS[2], qttl)
        keep(KEYS[3], qttl)
    elseif KEYS[5] then
        redis.call('SADD', KEYS[5], unpack(ARGV, 7))
        keep(KEYS[5], qttl)
    end
end
local msg = handoff(ARGV[2])
if msg then return {1, msg} end
return 1
]])

-- KEYS: K   ARGV: token, ms  -> ms (the new PTTL) when the token holds K, else 0
scripts.extend = redis.script [[
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return tonumber(ARGV[2])
]]

-- A waiter gives up. KEYS: K, K:queue, K:qexp, K:fence [, K:waiters]
-- ARGV: token, channel [, notice mode]
-- It leaves the queue (or K:waiters); a lock handed to it meanwhile is handed on; a free lock
-- whose first waiter it was goes to the next one. -> 1 when it was waiting or held the lock,
-- else 0.
scripts.cancel = redis.script(HANDOFF .. [[
local queued = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if KEYS[5] then queued = queued + redis.call('SREM', KEYS[5], ARGV[1]) end
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
    redis.call('DEL', KEYS[1])
    handoff(ARGV[2])
    return 1
end
if queued == 1 and cur == false then handoff(ARGV[2]) end
return queued
]])

-- A write that only lands when its fence is the newest seen for the resource.
-- KEYS: R:fenced   ARGV: fence, command, args...
-- -> {1, reply} applied; {0, highest fence} refused as stale; {-1, error text} the command
-- failed. The command runs before the fence is recorded, so a command that fails leaves the
-- record as it was.
scripts.fenced = redis.script [[
local fence = tonumber(ARGV[1])
local high = tonumber(redis.call('GET', KEYS[1]) or '0')
if fence < high then return {0, high} end
local reply = redis.pcall(unpack(ARGV, 2))
if type(reply) == 'table' and reply.err then return {-1, reply.err} end
if fence > high then redis.call('SET', KEYS[1], ARGV[1]) end
return {1, reply}
]]

-- Semaphore. KEYS: S   ARGV: token, ttl ms, limit
-- -> {1, ttl} holds a permit (also when an earlier try whose reply was lost took it);
--    {0, ms until the first permit expires}
scripts.sem_acquire = redis.script [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key, token, ttl = KEYS[1], ARGV[1], tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local mine = redis.call('ZSCORE', key, token)
if mine then return {1, tonumber(mine) - now} end
if redis.call('ZCARD', key) >= tonumber(ARGV[3]) then
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {0, tonumber(first[2]) - now}
end
redis.call('ZADD', key, now + ttl, token)
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', key, tonumber(last[2]) - now)
return {1, ttl}
]]

-- KEYS: S  -> permits held now (not expired by the server's clock, the one that set them)
scripts.sem_count = redis.script [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
]]

-- KEYS: S   ARGV: token, channel, notice mode  -> 1 released, 0 not held (expired or never)
scripts.sem_release = redis.script(scripts.NOTICE .. [[
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
notice(ARGV[2], '')
return 1
]])

-- KEYS: S   ARGV: token, ms  -> ms when the permit was still held, else 0
scripts.sem_extend = redis.script [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not exp or tonumber(exp) <= now then return 0 end
local ms = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + ms, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], tonumber(last[2]) - now)
return ms
]]

return scripts
