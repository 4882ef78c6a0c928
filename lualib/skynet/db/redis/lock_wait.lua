-- Waiting for a lock or a semaphore permit: pub/sub wake-ups on release, polling as the backstop.
--
-- Each service keeps one watcher (redis.watch) per client, made on first need, subscribed to
-- the release channels its waiters wait on. A message on a channel wakes one local waiter: the
-- one whose token the message names (a lock's release names the first queued waiter), or else
-- the longest-waiting one that is not fair (a semaphore's or read-write lock's release names
-- nobody: any waiter may win, so one try per service and release is enough; readers all wake).
-- A channel stays subscribed for LINGER after its last waiter left, so a lock contended again
-- soon costs no SUBSCRIBE; the watcher is closed with its last channel. On a Redis Cluster a
-- channel with a hash tag (a lock's, a read-write lock's) is a shard channel, subscribed with
-- SSUBSCRIBE on its slot's master, where the release script SPUBLISHes (scripts.notice_mode);
-- when the servers have no shard channels (before Redis 7) it is subscribed classically, as
-- the scripts then PUBLISH.
--
-- Messages can be lost (the watcher reconnecting, a release racing a failed try); waiters
-- therefore also sleep with a timeout and poll (a subscribed waiter's timeout comes from one
-- alarm per service, so a waiter woken early leaves no timer message behind). The per-channel
-- generation closes the common race: a try whose reply comes after the release message that
-- followed it sees the generation moved and tries again at once instead of sleeping.
--
-- Thread: the owning service. subscribe, sleep and until_taken yield.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local scripts = require "skynet.db.redis.lock_scripts"
local instr = require "skynet.db.redis.instr"
local board = require "skynet.db.redis.lock_board"

local now, fork, sleep, wakeup, timeout = skynet.now, skynet.fork, skynet.sleep, skynet.wakeup,
    skynet.timeout

local LINGER = 500    -- cs a channel stays subscribed without waiters
local RETRY = 500     -- cs before making a watcher again after a failure

local find, sub = string.find, string.sub

local M = {}

-- When set, called as trace("notice") when a release notice reaches the service and
-- trace("woken") when a waiter it woke runs again (bench/redis/lock_bench.lua times the
-- hand-off with it).
M.trace = false

-- db -> waker {watch, subs = {channel -> sub}, ready = bool, joiners = {token...}, failed = cs,
--              shards = bool (a cluster's servers have shard channels)}
-- sub = {count, gen, waiters = {entry...}, confirmed = bool, joiners = {token...},
--        shard = bool (SSUBSCRIBE)}
local wakers = setmetatable({}, { __mode = "k" })

local function remove_entry(list, entry)
    for i = 1, #list do
        if list[i] == entry then
            table.remove(list, i)
            return
        end
    end
end

-- Wakes waiter list[pick] of sub with the message payload (and, for a reader, every other
-- reader).
local function wake(list, pick, payload)
    local entry = table.remove(list, pick)
    entry.woken = payload
    wakeup(entry)
    if entry.shared then
        -- Readers do not exclude each other: when one may enter, all may.
        for i = #list, 1, -1 do
            local e = list[i]
            if e.shared then
                table.remove(list, i)
                e.woken = payload
                wakeup(e)
            end
        end
    end
end

-- Grants from releases of this node (see M.granted) for a waiter that was not asleep (its try
-- in flight): token -> message, which it takes when it goes to sleep; until_taken clears its
-- entry.
local pending = {}

local function dispatch(w, payload, channel)
    if M.trace then M.trace("notice") end
    local sub = w.subs[channel]
    if not sub then return end
    sub.gen = sub.gen + 1
    local list = sub.waiters
    local pick
    -- "<token> <fence> <time>": the lock was handed to that waiter; "<token>": it should try.
    local named = payload:match("^(%S+)") or ""
    for i = 1, #list do
        if list[i].token == named then
            pick = i
            break
        end
    end
    if not pick then
        for i = 1, #list do
            if not list[i].fair or payload == "" then
                pick = i
                break
            end
        end
    end
    if pick then
        instr.lock_wakes("notice"):inc()
        local shared = list[pick].shared
        wake(list, pick, payload)
        if shared and payload == "" then
            -- A read-write lock's release woke this service's readers; a writer of the service
            -- waiting behind them may be the one whose turn it is (its intent holds the readers
            -- back), so it tries too rather than sleep to its next poll.
            for i = 1, #list do
                if not list[i].shared then
                    wake(list, i, payload)
                    break
                end
            end
        end
    end
end

-- Waiters of this service in M.until_taken (token -> true), and those of them asleep in
-- M.sleep (token -> entry).
local active, asleep = {}, {}

-- A grant "<token> <fence> <time>" from a release made by this node (this service or
-- another), which published no notice for it, or a bare "<token>" (the holder a waiter joined no
-- longer holds the lock: it should try): wakes its waiter when it sleeps here; a waiter not
-- asleep (its try in flight) finds it when it goes to sleep.
local function granted(payload, token)
    token = token or payload:match("^(%S+)")
    -- Not waiting any more (its own try or a poll found the lock, or it gave up), or told.
    if not token or not active[token] or pending[token] then return end
    local entry = asleep[token]
    if entry then
        if entry.woken then return end
        local sub = entry.sub
        local list = sub.waiters
        for i = 1, #list do
            if list[i] == entry then
                if M.trace then M.trace("notice") end
                sub.gen = sub.gen + 1
                instr.lock_wakes("local"):inc()
                wake(list, i, payload)
                return
            end
        end
        return
    end
    pending[token] = payload
    instr.lock_wakes("local"):inc()
end

-- Grants between services of one node travel as "lockgrant" messages (the payload as text).
local PTYPE_LOCKGRANT = 14
skynet.register_protocol {
    name = "lockgrant", id = PTYPE_LOCKGRANT, unpack = skynet.tostring,
    dispatch = function(_, _, payload) granted(payload) end,
}

-- The release of a lock granted it to a waiter: `payload` is the grant ("<token> <fence>
-- <time>", the release script's reply). A waiter of this node is woken now, by a message to its
-- service (or directly when it is this one): the script, told this node's tag, published
-- nothing for it. Others hear the pub/sub notice. A bare "<token>" of this node is delivered
-- the same way (lock.lua: a joiner told to try). Returns the waiter's service and its token when
-- it is one of this node. Does not yield. The token is taken out once here (a hand-over's path
-- parsed it five times, each a pattern match of a few thousand instructions).
function M.granted(payload)
    if type(payload) ~= "string" then return nil end
    local space = find(payload, " ", 1, true)
    local token = space and sub(payload, 1, space - 1) or payload
    local handle = scripts.local_service(token)
    if not handle then return nil end
    if handle == skynet.self() then
        granted(payload, token)
    else
        skynet.rawsend(handle, "lockgrant", payload)
    end
    return handle, token
end

-- True when the service hears `channel` already (a confirmed subscription). Does not yield.
function M.hears(db, channel)
    local w = wakers[db]
    local sub = w and w.watch and w.subs[channel]
    return sub ~= nil and sub.confirmed
end

local function reader(w, watch)
    while true do
        local ok, msg, channel = pcall(watch.message, watch)
        if not ok then
            -- Closed: later waiters make a new one.
            if w.watch == watch then w.watch = nil end
            return
        end
        dispatch(w, msg, channel)
    end
end

local function join(list)
    local token = {}
    list[#list + 1] = token
    skynet.wait(token)
end

local function release_joiners(list)
    for i = 1, #list do wakeup(list[i]) end
    for i = #list, 1, -1 do list[i] = nil end
end

-- Whether the servers of cluster client db have shard channels (SPUBLISH, Redis 7): only a
-- server's refusal of PUBSUB SHARDNUMSUB says no; a node that cannot be reached says nothing,
-- and Redis 7 is taken then. Yields.
local function has_shards(db)
    local ok, err = pcall(db.pubsub, db, "SHARDNUMSUB")
    return ok or not tostring(err):lower():find("unknown", 1, true)
end

-- The waker of db with a live watcher, or nil (polling only) when none can be made. Yields.
local function get(db)
    local w = wakers[db]
    if not w then
        w = { subs = {}, joiners = {}, failed = nil, connecting = false }
        wakers[db] = w
    end
    if w.watch then return w end
    if w.connecting then
        join(w.joiners)
        return w.watch and w or nil
    end
    if w.failed and now() < w.failed + RETRY then return nil end
    w.connecting = true
    -- Asked again for every new watcher: servers upgraded meanwhile are seen.
    if scripts.is_cluster(db) then w.shards = has_shards(db) end
    local ok, watch = pcall(redis.watch, scripts.watch_opts(db))
    w.connecting = false
    if ok then
        w.watch = watch
        w.failed = nil
        -- Channels kept from an earlier watcher are subscribed again.
        local again, shard = {}, {}
        for channel, sub in pairs(w.subs) do
            if sub.count > 0 then
                sub.shard = w.shards == true and scripts.has_tag(channel)
                local list = sub.shard and shard or again
                list[#list + 1] = channel
            end
        end
        if #again > 0 then pcall(watch.subscribe, watch, table.unpack(again)) end
        if #shard > 0 then pcall(watch.ssubscribe, watch, table.unpack(shard)) end
        fork(reader, w, watch)
    else
        w.failed = now()
        skynet.error("lock: no pub/sub wake-ups (polling only): " .. tostring(watch))
    end
    release_joiners(w.joiners)
    return w.watch and w or nil
end

-- Subscribes the service to a release channel for one more waiter; returns a subscription to
-- pass to sleep/unsubscribe, or nil when wake-ups are not available (the caller polls). Returns
-- once the server confirmed the channel, so a release after it is heard. Yields.
function M.subscribe(db, channel)
    local w = get(db)
    if not w then return nil end
    local sub = w.subs[channel]
    if sub then
        sub.count = sub.count + 1
        if not sub.confirmed then join(sub.joiners) end
        return sub
    end
    local shard = w.shards == true and scripts.has_tag(channel)
    sub = { count = 1, gen = 0, waiters = {}, confirmed = false, joiners = {}, w = w,
        channel = channel, idle_since = 0, lingering = false, shard = shard }
    w.subs[channel] = sub
    local ok, err = pcall(shard and w.watch.ssubscribe or w.watch.subscribe, w.watch, channel)
    sub.confirmed = true
    release_joiners(sub.joiners)
    if not ok then
        -- Still recorded: the watcher subscribes again after its reconnect. The watcher's
        -- error names the node and how long it waited.
        skynet.error(string.format("lock: %s %s not confirmed (%s); polling meanwhile",
            shard and "SSUBSCRIBE" or "SUBSCRIBE", channel, tostring(err)))
    end
    return sub
end

-- The subscription of a channel the service already hears (one lingering from an earlier
-- wait), taken for one more waiter; nil when there is none or it is not confirmed yet. Does not
-- yield.
function M.subscribed(db, channel)
    local w = wakers[db]
    local sub = w and w.watch and w.subs[channel]
    if not sub or not sub.confirmed then return nil end
    sub.count = sub.count + 1
    return sub
end

-- Drops sub's channel once it has had no waiter for LINGER; one timer per channel at a time,
-- so a lock contended again and again costs one timer message per LINGER, not one per wait.
local function linger(sub, cs)
    timeout(cs, function()
        local w = sub.w
        if sub.count > 0 or w.subs[sub.channel] ~= sub then
            sub.lingering = false  -- in use again (or dropped): its next idle spell re-arms
            return
        end
        local left = sub.idle_since + LINGER - now()
        if left > 0 then return linger(sub, left) end
        sub.lingering = false
        w.subs[sub.channel] = nil
        local watch = w.watch
        if watch then
            if next(w.subs) == nil and not w.connecting then
                -- Nothing left to hear: the connection goes too (a client that is dropped
                -- would otherwise leave its watcher behind).
                w.watch = nil
                watch:disconnect()
            elseif sub.shard then
                watch:sunsubscribe(sub.channel)
            else
                watch:unsubscribe(sub.channel)
            end
        end
    end)
end

-- One waiter fewer; the channel is dropped after LINGER unless a waiter came back. Does not
-- yield.
function M.unsubscribe(sub)
    sub.count = sub.count - 1
    if sub.count > 0 then return end
    sub.idle_since = now()
    if sub.lingering then return end
    sub.lingering = true
    linger(sub, LINGER)
end

-- The backstop alarm of the service's subscribed sleepers. A sleeper that a release wakes early
-- would leave its own timer behind, one more message to the service for every contended
-- acquisition; instead sleepers wait on their entry and one alarm at a time, set for the
-- earliest due sleeper, wakes those whose time is up and is then set for the next.
local sleepers = {}         -- entry -> true, while it waits
local alarm_at, alarm_gen = nil, 0

local arm

local function ring(gen)
    if gen ~= alarm_gen then return end  -- superseded by an earlier alarm
    alarm_at = nil
    local t, next_due = now(), nil
    for e in pairs(sleepers) do
        if e.due <= t then
            sleepers[e] = nil
            wakeup(e)
        elseif not next_due or e.due < next_due then
            next_due = e.due
        end
    end
    if next_due then arm(next_due) end
end

-- The alarm rings at `due` (skynet.now() cs) or earlier.
function arm(due)
    if alarm_at and alarm_at <= due then return end
    alarm_at = due
    alarm_gen = alarm_gen + 1
    local gen = alarm_gen
    timeout(math.max(0, due - now()), function() ring(gen) end)
end

-- Sleeps up to cs centiseconds or until a release on the channel picks this waiter. `token`
-- is the waiter's lock token (fair mode is woken by name), `fair` whether it is a fair waiter.
-- A `shared` waiter (a reader) is woken together with every other shared one. Returns the
-- message that woke it, or false. Yields.
function M.sleep(sub, cs, token, fair, shared)
    if not sub then
        sleep(cs)
        return false
    end
    local grant = token and pending[token]
    if grant then
        -- A release of this node granted it the lock while its try was in flight.
        pending[token] = nil
        return grant
    end
    local entry = { token = token, fair = fair, shared = shared, woken = false, due = now() + cs,
        sub = sub }
    local list = sub.waiters
    list[#list + 1] = entry
    sleepers[entry] = true
    if token then asleep[token] = entry end
    arm(entry.due)
    skynet.wait(entry)
    sleepers[entry] = nil
    if token then asleep[token] = nil end
    if not entry.woken then remove_entry(list, entry) end
    return entry.woken
end

local function backoff(retry, attempt)
    local d = math.min(retry.max or 200, (retry.base or 10) * (1 << math.min(attempt, 20)))
    return d - d * (retry.jitter or 0.5) * math.random()
end

local EMPTY = {}

-- Runs try() until it succeeds or opts.wait ms have passed (0: once). try() -> reply, or nil
-- and the client's error text; reply[1] == 1 means taken, else reply[2] is the ms until the
-- holder's lease ends (<= 0: unknown). Between tries it sleeps by opts.retry ({base, max,
-- jitter} in ms), never past the holder's expiry or the end of the wait, and a release on
-- `channel` wakes it early (`shared`: see sleep). With grant_ms, a message "<token> <fence>
-- <time>" naming this waiter means a release handed it the lock for grant_ms: the reply is then
-- {1, fence, grant_ms}, timed from the last try that found the lock taken, when the grant's
-- server time (lock_scripts' HANDOFF) is after that try's. A grant from before it is gone (that
-- try would have found this token holding the lock), however late its message came (a releaser
-- busy for longer than the grant, a paused node): the waiter goes on trying.
-- Returns reply and the skynet.hpc() time the successful try was sent, or nil, "contended" (no
-- wait) / "timeout" / "unavailable" (the last try got no answer), detail. `kind` and `key` name
-- the lock for its metrics (a failure counted by reason; a contended wait, from the first try
-- that found the lock held, timed) and the lock board (a waiter while it waits). Yields.
function M.until_taken(db, channel, token, fair, opts, try, grant_ms, shared, kind, key)
    local MS = 1000000
    local wait_ns = (opts.wait or 0) * MS
    local retry = opts.retry or EMPTY
    local give_up = skynet.hpc() + wait_ns
    -- A channel heard already hears every release from before the first try on, so a refused
    -- first try needs no second one to close the race with the subscription.
    local sub = M.subscribed(db, channel)
    local subscribed, attempt = sub ~= nil, 0
    active[token] = true
    local why, detail, t0, reply, refused_at
    local refused_time -- the server's TIME of the last refused try, in microseconds
    local waiting_since -- hpc() of the first refused try, when the caller waits
    while true do
        local gen = sub and sub.gen or 0
        t0 = skynet.hpc()
        local r, err = try()
        if r and r[1] == 1 then
            reply = r
            break
        end
        local holder_ms
        if r then
            why, detail, holder_ms = "contended", nil, r[2]
            refused_at = t0
            if r[4] then refused_time = r[3] * 1000000 + r[4] end
            if not waiting_since and wait_ns > 0 then
                waiting_since = t0
                board.wait(key, token, opts.wait)
            end
        else
            why, detail = "unavailable", err
        end
        local now_ns = skynet.hpc()
        if now_ns >= give_up then break end
        if why == "contended" and not subscribed then
            -- Heard from now on: the try just after the subscription cannot miss a release.
            subscribed = true
            sub = M.subscribe(db, channel)
        elseif (sub and sub.gen or 0) == gen then
            -- Subscribed, a release wakes us: polls are only the backstop for a lost message,
            -- so they come at the slowest rate at once.
            local ms = backoff(retry, sub and 20 or attempt)
            attempt = attempt + 1
            if holder_ms and holder_ms > 0 then ms = math.min(ms, holder_ms + 1) end
            ms = math.min(ms, (give_up - now_ns) / MS + 1)
            local msg = M.sleep(sub, math.max(1, math.ceil(ms / 10)), token, fair, shared)
            if msg and M.trace then M.trace("woken") end
            -- A hand-over names its waiter; one picked for another's (that waiter was not
            -- asleep) only tries.
            local to, fence, sec, usec
            if grant_ms and refused_at and msg then
                to, fence, sec, usec = msg:match("^(%S+) (%d+) (%d+)%.(%d+)$")
            end
            if fence and to == token and not (refused_time and
                    math.tointeger(sec) * 1000000 + math.tointeger(usec) < refused_time) then
                reply, t0 = { 1, math.tointeger(fence), grant_ms }, refused_at
                break
            end
        end
    end
    if sub then M.unsubscribe(sub) end
    active[token], pending[token] = nil, nil -- a grant not needed: its own try found it
    local m = instr.lock(kind)
    if waiting_since then
        m.waited:observe((skynet.hpc() - waiting_since) / 1e9)
        board.waited(key, token)
    end
    if reply then return reply, t0 end
    if why == "contended" and wait_ns > 0 then why = "timeout" end
    m.failed[why]:inc()
    return nil, why, detail
end

return M
