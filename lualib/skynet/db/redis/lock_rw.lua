-- skynet.db.redis.lock_rw: a read-write lock on Redis (docs/lua-api.md, "Locks").
--
--   local rw = require "skynet.db.redis.lock_rw"
--   local r = rw.read(db, "map:3", { ttl = 2000, wait = 500 })    -- shared with other readers
--   local w = rw.write(db, "map:3", { ttl = 2000, wait = 500 })   -- alone
--
-- The writer holds K exactly as skynet.db.redis.lock does (so fencing, extend, release and the
-- fenced writes are the lock's); readers are a sorted set K:readers of tokens scored by the
-- server time their lease expires, like a semaphore without a limit. A waiting writer sets
-- K:wintent (refreshed by its polls, expiring like a fair waiter's entry), and no new reader
-- enters while it is set, so a stream of readers cannot starve writers. Leases and errors are
-- the lock's; a read lease has no fence.
--
-- Thread: the owning service. Every function that talks to Redis yields.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local scripts = require "skynet.db.redis.lock_scripts"
local leases = require "skynet.db.redis.lock_lease"
local waiting = require "skynet.db.redis.lock_wait"

local assert = assert

local rw = {}

-- KEYS: K, K:readers, K:wintent   ARGV: token, ttl ms
-- -> {1, pttl} reading (also a retry whose reply was lost); {0, ms until the writer's lease
-- ends (-2: a writer waits)}
local read_script = redis.script [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local mine = redis.call('ZSCORE', KEYS[2], ARGV[1])
if mine then return {1, tonumber(mine) - now} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('PTTL', KEYS[1])} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {0, -2} end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], tonumber(last[2]) - now)
return {1, ttl}
]]

-- KEYS: K, K:readers, K:wintent, K:fence   ARGV: token, ttl ms, fencing, intent ms (0: none)
-- -> {1, fence, pttl} writing; {0, ms until the first reader or the writer leaves}
local write_script = redis.script [[
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
    local fence = 0
    if ARGV[3] == '1' then fence = tonumber(redis.call('GET', KEYS[4]) or '0') end
    return {1, fence, redis.call('PTTL', KEYS[1])}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if cur == false and redis.call('ZCARD', KEYS[2]) == 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
    local fence = 0
    if ARGV[3] == '1' then fence = redis.call('INCR', KEYS[4]) end
    return {1, fence, tonumber(ARGV[2])}
end
if ARGV[4] ~= '0' then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4]) end
if cur then return {0, redis.call('PTTL', KEYS[1])} end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}
]]

-- KEYS: K:wintent   ARGV: token, channel, notice mode (scripts.notice_mode) -- a writer that
-- gave up lets readers in again.
local drop_intent = redis.script(scripts.NOTICE .. [[
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
notice(ARGV[2], '')
return 1
]])

local _, new_token = scripts.tokens("w")
local run = scripts.run

local function release_args(db, key, token)
    local channel = key .. ":released"
    return 4, key, key .. ":queue", key .. ":qexp", key .. ":fence", token, channel,
        scripts.notice_mode(db, channel)
end

local write_ops = {}

function write_ops.extend(l, ms)
    local r, detail = run(scripts.extend, l.db, 1, l.key, l.token, ms)
    if not r then return nil, "unavailable", detail end
    if r == 0 then return nil, "lost" end
    return r
end

function write_ops.release(l)
    local r, detail = run(scripts.release, l.db, release_args(l.db, l.key, l.token))
    if not r then return nil, detail end
    return r == 1 or type(r) == "table"
end

local read_ops = {}

function read_ops.extend(l, ms)
    local r, detail = run(scripts.sem_extend, l.db, 1, l.key .. ":readers", l.token, ms)
    if not r then return nil, "unavailable", detail end
    if r == 0 then return nil, "lost" end
    return r
end

function read_ops.release(l)
    local channel = l.key .. ":released"
    local r, detail = run(scripts.sem_release, l.db, 1, l.key .. ":readers", l.token, channel,
        scripts.notice_mode(l.db, channel))
    if not r then return nil, detail end
    return r == 1
end

local function check(key, opts, what)
    assert(type(key) == "string", what .. ": key must be a string")
    local ttl = opts.ttl or 10000
    assert(math.type(ttl) == "integer" and ttl > 0, what .. ": ttl must be a positive integer (ms)")
    return ttl
end

-- rw.read(db, key [, opts]) -> lease, or nil, err [, detail]: shared with other readers,
-- excluded by a writer (holding or waiting). Options: ttl, wait, retry, renew, on_lost as for
-- lock.acquire. Yields.
function rw.read(db, key, opts)
    opts = opts or {}
    local ttl = check(key, opts, "lock_rw.read")
    key = scripts.base(db, key)
    local token = new_token()
    local reply, t0, detail = waiting.until_taken(db, key .. ":released", token, false, opts,
        function() return run(read_script, db, 3, key, key .. ":readers", key .. ":wintent", token, ttl) end,
        nil, true, "read", key)
    if not reply then
        if t0 == "unavailable" then skynet.fork(read_ops.release, { db = db, key = key, token = token }) end
        return nil, t0, detail
    end
    local l = leases.new(read_ops, { db = db, key = key, token = token, ttl = ttl, kind = "read" },
        t0, reply[2])
    if opts.renew then leases.renew(l, opts.on_lost) end
    return l
end

-- rw.write(db, key [, opts]) -> lease, or nil, err [, detail]: alone, once the readers have
-- left; while it waits no new reader enters. Options: ttl, wait, retry, renew, on_lost,
-- fencing as for lock.acquire (the fence is the lock's: key:fence). Yields.
function rw.write(db, key, opts)
    opts = opts or {}
    local ttl = check(key, opts, "lock_rw.write")
    key = scripts.base(db, key)
    local token = new_token()
    local intent = (opts.wait or 0) > 0 and math.max(1000, 4 * ((opts.retry or {}).max or 200)) or 0
    local fencing = opts.fencing and "1" or "0"
    local reply, t0, detail = waiting.until_taken(db, key .. ":released", token, false, opts,
        function()
            return run(write_script, db, 4, key, key .. ":readers", key .. ":wintent",
                key .. ":fence", token, ttl, fencing, intent)
        end, nil, false, "write", key)
    if not reply then
        skynet.fork(function()
            if t0 == "unavailable" then write_ops.release({ db = db, key = key, token = token }) end
            if intent > 0 then
                local channel = key .. ":released"
                pcall(drop_intent, db, 1, key .. ":wintent", token, channel,
                    scripts.notice_mode(db, channel))
            end
        end)
        return nil, t0, detail
    end
    local l = leases.new(write_ops, { db = db, key = key, token = token, ttl = ttl, kind = "write",
        fence = opts.fencing and reply[2] or nil }, t0, reply[3])
    if opts.renew then leases.renew(l, opts.on_lost) end
    return l
end

return rw
