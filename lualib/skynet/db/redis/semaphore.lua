-- skynet.db.redis.semaphore: a counting semaphore on Redis with per-holder expiry
-- (docs/lua-api.md, "Locks").
--
--   local semaphore = require "skynet.db.redis.semaphore"
--   local permit, err = semaphore.acquire(db, "matchmaker", 4, { ttl = 5000, wait = 1000 })
--   ... permit:release()
--
-- The semaphore is one sorted set: each holder's unique token scored by the server time its
-- permit expires. Every acquire first drops expired holders, so a holder that died frees its
-- permit after its ttl without anyone's help. A permit is a lease (valid, remaining, extend,
-- release, renew/on_lost) like a lock's; errors are the same stable strings.
--
-- Thread: the owning service. Every function that talks to Redis yields.
local skynet = require "skynet"
local scripts = require "skynet.db.redis.lock_scripts"
local leases = require "skynet.db.redis.lock_lease"
local waiting = require "skynet.db.redis.lock_wait"

local assert, error = assert, error

local semaphore = {}

local _, new_token = scripts.tokens("s")
local run = scripts.run

local ops = {}

function ops.extend(p, ms)
    local r, detail = run(scripts.sem_extend, p.db, 1, p.key, p.token, ms)
    if not r then return nil, "unavailable", detail end
    if r == 0 then return nil, "lost" end
    return r
end

-- The release script's arguments: the permit's key and token, the channel of the key's
-- waiters and how to publish there (scripts.notice_mode).
local function release_args(db, key, token)
    local channel = key .. ":released"
    return 1, key, token, channel, scripts.notice_mode(db, channel)
end

function ops.release(p)
    local r, detail = run(scripts.sem_release, p.db, release_args(p.db, p.key, p.token))
    if not r then return nil, detail end
    return r == 1
end

-- semaphore.acquire(db, key, limit [, opts]) -> permit, or nil, err [, detail]. At most
-- `limit` permits of `key` are held at once. Options as lock.acquire: ttl (ms, 10000), wait
-- (ms, 0 = try once), retry, renew, on_lost. Yields.
function semaphore.acquire(db, key, limit, opts)
    opts = opts or {}
    assert(type(key) == "string", "semaphore.acquire: key must be a string")
    assert(math.type(limit) == "integer" and limit > 0, "semaphore.acquire: limit must be a positive integer")
    local ttl = opts.ttl or 10000
    assert(math.type(ttl) == "integer" and ttl > 0, "semaphore.acquire: ttl must be a positive integer (ms)")
    local token = new_token()
    local reply, t0, detail = waiting.until_taken(db, key .. ":released", token, false, opts, function()
        return run(scripts.sem_acquire, db, 1, key, token, ttl, limit)
    end, nil, false, "semaphore", key)
    if not reply then
        if t0 == "unavailable" then
            -- The lost reply may have granted a permit that nobody would give back.
            skynet.fork(function() pcall(scripts.sem_release, db, release_args(db, key, token)) end)
        end
        return nil, t0, detail
    end
    local p = leases.new(ops, { db = db, key = key, token = token, ttl = ttl, kind = "semaphore" },
        t0, reply[2])
    if opts.renew then leases.renew(p, opts.on_lost) end
    return p
end

-- semaphore.with(db, key, limit, opts, fn): acquire, run fn(permit), always release; as
-- lock.with. Yields.
function semaphore.with(db, key, limit, opts, fn)
    local p, err = semaphore.acquire(db, key, limit, opts)
    if not p then error(err, 0) end
    local r = table.pack(pcall(fn, p))
    local ok, rerr = p:release()
    if not r[1] then error(r[2], 0) end
    if not ok then error(rerr, 0) end
    return table.unpack(r, 2, r.n)
end

-- Permits held now (expired holders are not counted). One script reads the time and counts,
-- on the server that holds the key (on a cluster, TIME alone would go to any master). Yields.
function semaphore.count(db, key)
    return scripts.sem_count(db, 1, key)
end

return semaphore
