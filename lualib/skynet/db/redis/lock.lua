-- skynet.db.redis.lock: distributed locks on Redis that stay safe when a holder pauses, its
-- lease expires or the server loses the key (docs/lua-api.md, "Locks").
--
--   local lock = require "skynet.db.redis.lock"
--   local lease, err = lock.acquire(db, "room:7", { ttl = 2000, wait = 500, fencing = true })
--   if lease then
--       lock.fenced(db, "room:7:state", lease, "SET", "room:7:state", data)
--       lease:release()
--   end
--   lock.with(db, "room:7", { ttl = 2000, wait = 500 }, function(lease) ... end)
--
-- Acquiring is one script (SET NX PX plus the fence counter, atomically; a fair lock also
-- keeps its queue there); release and extend are compare-and-act scripts keyed on the
-- acquisition's unique token, and a release hands the lock straight to a waiter. Errors are
-- returned as nil plus one of the stable strings "contended", "timeout", "lost", "not_owner",
-- "expired", "not_synced", "unavailable" (then a third value with the client's error text) and
-- raised as that string by lock.with.
--
-- Thread: the owning service. Every function that talks to Redis yields.
local skynet = require "skynet"
local scripts = require "skynet.db.redis.lock_scripts"
local leases = require "skynet.db.redis.lock_lease"
local waiting = require "skynet.db.redis.lock_wait"
local instr = require "skynet.db.redis.instr"

local fork = skynet.fork
local type, pcall, error, assert = type, pcall, error, assert
local max, mtype = math.max, math.type
local format, tpack, tunpack = string.format, table.pack, table.unpack

local MS = 1000000
local DEFAULT_TTL = 10000
local EMPTY = {}

local lock = {}

-- How long a fair waiter stays queued after its last poll (its polls come at most retry.max
-- apart).
local function queue_ttl(opts)
    return max(1000, 4 * ((opts.retry or EMPTY).max or 200))
end

----------------------------------------------------------------------------------------------
-- Tokens (see scripts.tokens); the prefix also names this service's release channel.

local prefix, new_token = scripts.tokens("")
local run = scripts.run

----------------------------------------------------------------------------------------------
-- What a lock lease does to extend and release itself

local ops = {}

function ops.extend(l, ms)
    local r, detail = run(scripts.extend, l.db, 1, l.key, l.token, ms)
    if not r then return nil, "unavailable", detail end
    if r == 0 then return nil, "lost" end
    return r
end

-- `node`: this node's tag, when the caller wakes a waiter of this node the release grants the
-- lock to (the script then publishes no notice for it).
local function release_args(db, key, token, node, joined)
    local channel = key .. ":released"
    local mode = scripts.notice_mode(db, channel)
    if joined then
        return 5, key, key .. ":queue", key .. ":qexp", key .. ":fence", key .. ":waiters", token,
            channel, mode, node, joined.qttl, joined.fair and "1" or "0", tunpack(joined)
    end
    if node then
        return 5, key, key .. ":queue", key .. ":qexp", key .. ":fence", key .. ":waiters", token,
            channel, mode, node
    end
    return 5, key, key .. ":queue", key .. ":qexp", key .. ":fence", key .. ":waiters", token,
        channel, mode
end

----------------------------------------------------------------------------------------------
-- Joining a holder of this node
--
-- A service whose release granted the lock to a waiter of this node knows the lock is held
-- now, so its next try would only be refused and name it in K:waiters (a fair one: queue it).
-- Instead it asks the new holder's service (a "lockjoin" message, protocol 15) to add its token
-- there in the holder's release script: one script per contended acquisition instead of two,
-- and no refused try in front of the new holder's first command. A fair joiner is queued when
-- the release runs, behind everyone queued by then. A holder that no longer holds the lease
-- when the request comes tells the joiner to try (its bare token, as a grant message).

-- Leases of this service by token, while held (weak: a lease dropped unreleased goes too).
local live = setmetatable({}, { __mode = "v" })
-- Holder token -> the tokens that joined it, while its release script runs.
local releasing = {}
-- db -> {key, token, handle}: the waiter of this node that this service's last release on db
-- granted its lock to; taken by the next acquire of that key on db. One per client, so a
-- service that locks many keys keeps no record per key.
local handed = setmetatable({}, { __mode = "k" })

function ops.release(l)
    local held = live[l.token]
    local joined = held and held.joined
    if held then
        live[l.token] = nil
        held.joined = nil
    end
    if joined then releasing[l.token] = joined end
    local r, detail = run(scripts.release, l.db,
        release_args(l.db, l.key, l.token, scripts.node_tag(), joined))
    if joined then
        releasing[l.token] = nil
        if type(r) ~= "table" and r ~= 1 then
            -- Not released by this script, so the tokens that joined were not added: they try.
            for i = 1, #joined do waiting.granted(joined[i]) end
        end
        local leaving = joined.leaving
        if leaving then for i = 1, #leaving do leaving[i](true) end end
    end
    if type(r) == "table" then
        -- Granted to a waiter: one of this node is woken now, and has no notice coming.
        local to, token = waiting.granted(r[2])
        if to then handed[l.db] = { key = l.key, token = token, handle = to } end
        return true
    end
    if not r then return nil, detail end
    return r == 1
end

-- `joiner` (a waiter's token; `fair` its mode) asks to be added to K:waiters (fair: K:queue) by
-- the release of lease `holder`. Does not yield.
local function join(key, holder, joiner, qttl, fair)
    local l = live[holder]
    local j = l and l.key == key and l.joined
    if not l or l.key ~= key or (j and j.fair ~= fair) then
        waiting.granted(joiner) -- not held here (any more), or a mode the key's users mix: it tries
        return
    end
    if not j then
        j = { qttl = qttl, fair = fair }
        l.joined = j
    elseif qttl > j.qttl then
        j.qttl = qttl
    end
    j[#j + 1] = joiner
end

local function index_of(list, v)
    for i = 1, #list do
        if list[i] == v then return i end
    end
    return nil
end

-- `joiner` gave up: done() is called once no release of `holder` can add it to K:waiters any
-- more (at once, or when the release script that carries it has run), so that the cancel the
-- joiner sends after it runs after any such addition. Does not yield.
local function leave(holder, joiner, done)
    local l = live[holder]
    local j = l and l.joined
    if j then
        local i = index_of(j, joiner)
        if i then table.remove(j, i) end
    else
        j = releasing[holder]
        if j and index_of(j, joiner) then
            -- In the release script now: answered once it has run.
            j.leaving = j.leaving or {}
            j.leaving[#j.leaving + 1] = done
            return
        end
    end
    done(true)
end

skynet.register_protocol {
    name = "lockjoin", id = 15, pack = skynet.pack, unpack = skynet.unpack,
    dispatch = function(_, _, cmd, key, holder, joiner, qttl, fair)
        if cmd == "join" then
            join(key, holder, joiner, qttl, fair)
        else
            leave(holder, joiner, skynet.response())
        end
    end,
}

-- Sends the join of `joiner` to the holder `to` ({token, handle}). Does not yield.
local function send_join(to, key, joiner, qttl, fair)
    if to.handle == skynet.self() then
        join(key, to.token, joiner, qttl, fair)
    else
        skynet.send(to.handle, "lockjoin", "join", key, to.token, joiner, qttl, fair)
    end
end

-- Takes `joiner` back from the holder `to`; returns once no release of it can add the joiner.
-- Yields.
local function send_leave(to, key, joiner)
    if to.handle ~= skynet.self() then
        -- A holder whose service is gone cannot add anyone: an error answer will do.
        pcall(skynet.call, to.handle, "lockjoin", "leave", key, to.token, joiner)
        return
    end
    local woken, done = {}, false
    leave(to.token, joiner, function()
        done = true
        skynet.wakeup(woken)
    end)
    if not done then skynet.wait(woken) end
end

-- Reentrant holds: db -> key -> lease (only leases acquired with reentrant = true).
local reentrant = setmetatable({}, { __mode = "k" })

local function forget(l)
    local held = reentrant[l.db]
    if held and held[l.key] == l then held[l.key] = nil end
end

----------------------------------------------------------------------------------------------
-- Acquire

-- How many replicas acknowledged the acquisition (WAIT). WAIT counts the writes of its own
-- connection. On one server db:wait sends it on the shared connection, after the acquire, and
-- holds that connection for up to `ms`. A cluster client refuses a lone WAIT (it cannot tell
-- which node's writes it is about), so there it goes in one pipeline behind a
-- compare-and-extend of the lease: a write on the lock's slot, which takes the WAIT to that
-- slot's master and is replicated after the acquire, so its acknowledgement covers the
-- acquire too. Yields.
local function sync(db, l, n, ms)
    if not scripts.is_cluster(db) then return db:wait(n, ms) end
    local res = db:pipeline({ { "EVAL", scripts.extend.src, 1, l.key, l.token, l.ttl },
        { "WAIT", n, ms } }, {})
    if not res[1].ok then error(res[1].out, 0) end
    if res[1].out == 0 then return 0 end -- no longer ours
    if not res[2].ok then error(res[2].out, 0) end
    return res[2].out
end

-- The first extend of a renewed lease that a hand-over granted for less than its ttl. Nobody
-- reads its result, so a lease it finds lost (or expired) is reported to on_lost here, as a
-- renewal's would be; no answer leaves the lease to the renewal, which gives it up in time.
local function extend_granted(l, ttl)
    local ok, why = l:extend(ttl)
    if ok or l.released or (why ~= "lost" and why ~= "expired") then return end
    local cb = l.on_lost
    if cb then
        local fine, err = pcall(cb, l, why)
        if not fine then skynet.error("lock " .. l.key .. ": on_lost raised: " .. tostring(err)) end
    end
end

-- Best-effort clean-up after a try whose reply was lost: it may have taken the lock (or
-- queued us) and nobody else knows the token. cancel also releases a lock handed to us. A
-- waiter that joined a holder (`joined`) is first taken back from it.
local function abandon(db, key, token, queued, joined)
    fork(function()
        if joined then send_leave(joined, key, token) end
        pcall(queued and scripts.cancel or scripts.release, db, release_args(db, key, token))
    end)
end

-- Tries until the lock is taken or `wait` ms have passed. Returns the acquire reply and the
-- hpc() time its try was sent, or nil, why, detail.
local function take(db, key, token, ttl, opts, grant_ms)
    local fair = opts.fair and true or false
    local waits = (opts.wait or 0) > 0
    local fencing = opts.fencing and "1" or "0"
    -- Waiters hear of their turn on their service's channel.
    local channel = key .. ":released:" .. prefix
    local qttl = queue_ttl(opts)
    local try
    if fair then
        -- A refused try of a waiter queues it in K:queue; a release hands the lock to the
        -- first live one.
        local mode = waits and "2" or "1"
        local qkey, xkey = key .. ":queue", key .. ":qexp"
        try = function()
            return run(scripts.acquire, db, 4, key, key .. ":fence", qkey, xkey, token, ttl,
                fencing, mode, qttl)
        end
    else
        -- No queue: a refused try of a waiter adds its token to K:waiters, from which a
        -- release takes any one and hands it the lock.
        local wkey, waiter = key .. ":waiters", waits and "1" or "0"
        try = function()
            return run(scripts.try, db, 3, key, key .. ":fence", wkey, token, ttl, fencing,
                waiter, qttl)
        end
    end
    local to = handed[db]
    if to and to.key ~= key then to = nil end
    if to then
        handed[db] = nil
        -- Only a waiter that a grant can reach (a token that asks for one) and that hears its
        -- channel already (a grant from another node comes by notice) joins.
        if not grant_ms or not waiting.hears(db, channel) then to = nil end
    end
    local joined
    local attempt = try
    if to then
        -- This service's last release granted the lock to a waiter of this node, which holds it
        -- unless it tells us otherwise: the first attempt joins its release instead of trying.
        attempt = function()
            if not to then return try() end
            joined, to = to, nil
            send_join(joined, key, token, qttl, fair)
            return { 0, -1 } -- refused, the holder's lease unknown
        end
    end
    local reply, t0, detail = waiting.until_taken(db, channel, token, fair, opts, attempt,
        grant_ms, false, "lock", key)
    if reply then return reply, t0 end
    local why = t0
    local queued = waits
    if why == "unavailable" or queued then abandon(db, key, token, queued, joined) end
    return nil, why, detail
end

-- lock.acquire(db, key [, opts]) -> lease, or nil, err [, detail]. Options:
--   ttl          lease length in ms (10000)
--   wait         ms to keep trying (0: try once, "contended" when held; math.huge: forever)
--   retry        {base = 10, max = 200, jitter = 0.5}: polling backoff in ms between tries
--                while waiting (releases wake waiters at once through pub/sub; polling is the
--                backstop)
--   renew        renew the lease at ttl/3 while held; on_lost(lease, why) is called before
--                the deadline when renewal fails ("lost", "unavailable"), or "expired" when
--                the service could not run in time (a paused process)
--   fencing      issue lease.fence, a number that grows with every fenced acquisition
--   min_replicas, sync_timeout (ms, 1000): after acquiring, WAIT for that many replicas;
--                when fewer acknowledge, release and fail with "not_synced"
--   reentrant    the same owner (opts.owner, default the calling coroutine) of this service may
--                acquire again; each acquire needs its release
--   fair         first come, first served among waiters (all users of a key must agree)
--   on_lost      see renew (only called for a renewed lease)
-- Yields.
function lock.acquire(db, key, opts)
    opts = opts or EMPTY
    assert(type(key) == "string", "lock.acquire: key must be a string")
    key = scripts.base(db, key)
    local ttl = opts.ttl or DEFAULT_TTL
    assert(mtype(ttl) == "integer" and ttl > 0, "lock.acquire: ttl must be a positive integer (ms)")
    local owner
    if opts.reentrant then
        owner = opts.owner or coroutine.running()
        local held = reentrant[db] and reentrant[db][key]
        if held and held.owner == owner then
            -- Held already: the server must still have our token (this also refreshes it).
            if held:extend(held.ttl) then
                held.count = held.count + 1
                return held
            end
            forget(held)
        end
    end
    local token = new_token()
    local grant_ms
    if (opts.wait or 0) > 0 and not opts.min_replicas then
        -- A release may hand the lock straight to this waiter (see lock_scripts): the token
        -- says for how long, capped at the queue expiry so that a waiter that died is not
        -- granted more than that; the lease is extended to its ttl after the hand-over.
        grant_ms = math.min(ttl, queue_ttl(opts))
        token = token .. "/" .. grant_ms .. (opts.fencing and "f" or "")
    end
    local reply, t0_or_why, detail = take(db, key, token, ttl, opts, grant_ms)
    if not reply then return nil, t0_or_why, detail end
    local t0 = t0_or_why
    local l = leases.new(ops, {
        db = db, key = key, token = token, ttl = ttl,
        fence = opts.fencing and reply[2] or nil,
    }, t0, reply[3])
    live[token] = l
    if opts.min_replicas then
        local ok, res = pcall(sync, db, l, opts.min_replicas, opts.sync_timeout or 1000)
        local acked = ok and res or 0
        if acked < opts.min_replicas then
            l:release()
            instr.lock("lock").failed.not_synced:inc()
            return nil, "not_synced", ok and format("%d of %d replicas acknowledged", acked,
                opts.min_replicas) or res
        end
    end
    if opts.reentrant then
        l.owner = owner
        l.forget = forget
        local held = reentrant[db]
        if not held then
            held = {}
            reentrant[db] = held
        end
        held[key] = l
    end
    if opts.renew then leases.renew(l, opts.on_lost) end
    if reply[3] < ttl then
        -- A hand-over's shorter grant. A renewed lease is extended at once (its renewals are
        -- timed by its ttl); any other when a third of the grant has passed, if still held: a
        -- holder done by then costs no extend.
        if opts.renew then fork(extend_granted, l, ttl) else leases.top_up(l, reply[3]) end
    end
    return l
end

-- lock.with(db, key, opts, fn): acquires (raising the error string on failure), runs
-- fn(lease), always releases, and returns fn's results. An error in fn is raised again after
-- the release; a release that fails ("expired", "lost", "unavailable") after fn returned is
-- raised too, since fn may not have run alone. Yields.
function lock.with(db, key, opts, fn)
    local l, err = lock.acquire(db, key, opts)
    if not l then error(err, 0) end
    local r = tpack(pcall(fn, l))
    local ok, rerr = l:release()
    if not r[1] then error(r[2], 0) end
    if not ok then error(rerr, 0) end
    return tunpack(r, 2, r.n)
end

----------------------------------------------------------------------------------------------
-- By token: for a lease handed to another service as its token

-- lock.release(db, key, token) -> true, or nil and "not_owner" or "unavailable". `key` is the
-- name given to acquire (or the lease's key). Yields.
function lock.release(db, key, token)
    key = scripts.base(db, key)
    local r, detail = ops.release({ db = db, key = key, token = token })
    if r then return true end
    if r == nil then return nil, "unavailable", detail end
    return nil, "not_owner"
end

-- lock.extend(db, key, token, ms) -> true, or nil and "not_owner" or "unavailable". Yields.
function lock.extend(db, key, token, ms)
    assert(mtype(ms) == "integer" and ms > 0, "lock.extend: ms must be a positive integer")
    key = scripts.base(db, key)
    local r, why, detail = ops.extend({ db = db, key = key, token = token }, ms)
    if r then return true end
    if why == "lost" then return nil, "not_owner" end
    return nil, why, detail
end

----------------------------------------------------------------------------------------------
-- Fenced writes

-- lock.fenced(db, resource, lease_or_fence, command, args...): runs the command only if the
-- fence is at least the highest one that has written to `resource` (kept in resource:fenced),
-- so a holder whose lease expired while it paused cannot overwrite its successor's data.
-- Returns the command's reply (true for a nil reply), or nil, "stale", highest fence, or nil,
-- "unavailable", detail. A command the server rejects raises. On a cluster the command's keys
-- must be in the slot of the fence record (the tagged resource name, see scripts.base): name
-- the resource after the key it writes, or give both one {hash tag}. Yields.
function lock.fenced(db, resource, fence, cmd, ...)
    if type(fence) == "table" then fence = fence.fence end
    assert(mtype(fence) == "integer" and fence > 0,
        "lock.fenced: needs a lease acquired with fencing = true (or its fence)")
    local record = scripts.base(db, resource) .. ":fenced"
    local r, detail = run(scripts.fenced, db, 1, record, fence, cmd, ...)
    if not r then return nil, "unavailable", detail end
    if r[1] == 1 then
        local v = r[2]
        if v == nil then return true end
        return v
    elseif r[1] == 0 then
        instr.fencing_refusals():inc()
        return nil, "stale", r[2]
    end
    local hint = ""
    local text = tostring(r[2])
    if scripts.is_cluster(db) and (text:find("slot", 1, true) or text:find("non local", 1, true)) then
        hint = format(" (on a cluster the command's keys must share the slot of %s: name the "
            .. "resource after the key it writes, or give both the same {hash tag})", record)
    end
    error(format("lock.fenced %s on %s: %s%s", tostring(cmd), resource, text, hint), 2)
end

return lock
