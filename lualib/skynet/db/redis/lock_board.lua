-- The node's board of locks: who holds which lock (lock, read/write lease, semaphore permit)
-- and how many wait for it, kept current in the status board topic "locks" (skynet.metrics
-- publish/board; docs/operations.md).
--
-- One writer per node, the lockboard service (services/lua/lockboard.lua), so that a holder in
-- one service and waiters in others never overwrite each other's view: the lock library of every
-- service notes what happens (held, renewed, released, wait, waited) and sends it, coalesced,
-- at most every FLUSH_CS (one message per service and period, in order), and the board
-- publishes one entry per key:
--   {holder = ":0000002a" (the oldest holder's address), token =, fencing = n (fenced locks),
--    since = ms (wall clock, when it was taken), expires = ms (when its lease ends unless
--    renewed), kind = "lock" | "read" | "write" | "semaphore", holders = n, waiters = n}
-- An entry goes when nothing holds or waits for the key. A holder that stops without releasing
-- stays until its lease's end (the lock in Redis does too); a waiter until its wait's end. The
-- board is therefore up to FLUSH_CS behind each service's locks (a lease or wait that begins and
-- ends within that window is not sent: it never shows), and a service that exits loses its last
-- window's events (its entries then go at their lease's or wait's end).
--
-- Thread: the client functions run in the calling service and do not yield, except sync and
-- start (the flush, a timer callback, yields once to find or start the service); serve() is
-- the service's body.
local skynet = require "skynet"

local floor = math.floor

local M = {}

local function now_ms()
    return floor(skynet.time() * 1000)
end

----------------------------------------------------------------------------------------------
-- Client side (any service that uses locks)

local handle = nil -- the service, or false when it cannot be had (the board is then not kept)

local function service()
    if handle ~= nil then return handle end
    local ok, h = pcall(skynet.uniqueservice, "lockboard")
    if ok then
        handle = h
    else
        handle = false
        skynet.error("lock: no lockboard service (" .. tostring(h):gsub("\n.*", "")
            .. "); the status board topic \"locks\" is not kept by this service")
    end
    return handle
end

-- Changes not yet on the board, coalesced by key and token: "<key>\0<token>" ->
-- {key, token, hold = entry | false (ended) | nil (unchanged), wait = deadline | false | nil}.
-- A token belongs to one acquisition of one key, so its last change of each kind is all the
-- board needs; a lease taken and given back between two flushes leaves {hold = false}.
local pending, npending = {}, 0
local flush_due = false

local GRACE_MS = 1000  -- a lease or wait past its end by this much is gone from the board

-- Leases and waits the board has been sent and not yet the end of: "<key>\0<token>" ->
-- {hold = true | nil, wait = true | nil, ends = ms}. A change whose lease and wait both began
-- and ended within one window is not sent: the board never had it, and under load that is
-- almost every one (a contended game transfer's locks are held for milliseconds), which cost
-- the encoding, the board's decoding and a publish of its key each. `ends` is when the board's
-- own sweep would take the entry off; past it the entry goes here too (an end never noted).
local told, told_swept = {}, 0

-- Whether the change keeps the entry alive on the board, noting it in `told` (or taking it off).
local function still_told(id, c, t)
    local was = told[id]
    local hold = c.hold and true or (c.hold == nil and was and was.hold) or nil
    local wait = c.wait and true or (c.wait == nil and was and was.wait) or nil
    if not hold and not wait then
        told[id] = nil
        return was ~= nil
    end
    local ends = was and was.ends or t
    if c.hold then ends = c.hold.expires end
    if c.renewed then ends = c.renewed end
    if c.wait and c.wait > ends then ends = c.wait end
    told[id] = { hold = hold, wait = wait, ends = ends }
    return true
end

-- Sends what is pending as one message. Yields only on the first one (finding the service).
local function flush()
    flush_due = false
    if npending == 0 then return end
    local h = service()
    local t = now_ms()
    local batch, n = {}, 0
    for id, c in pairs(pending) do
        if h and still_told(id, c, t) then
            n = n + 1
            batch[n] = c
        end
    end
    pending, npending = {}, 0
    if t - told_swept >= GRACE_MS then
        told_swept = t
        for id, was in pairs(told) do
            if was.ends < t - GRACE_MS then told[id] = nil end
        end
    end
    if n > 0 then skynet.send(h, "lua", "batch", batch) end
end

local function change(key, token)
    local id = key .. "\0" .. token
    local c = pending[id]
    if not c then
        c = { key = key, token = token }
        pending[id] = c
        npending = npending + 1
        if not flush_due then
            flush_due = true
            skynet.timeout(M.FLUSH_CS, flush)
        end
    end
    return c
end

-- How often (cs) a service sends its lock events to the board at most: the board is at most
-- this much behind a service's locks (docs/operations.md). Every event of a service in that
-- window goes in one message.
M.FLUSH_CS = 10

-- A lease was granted: key, kind, token, ttl (ms), fence (or nil).
function M.held(key, kind, token, ttl, fence)
    local t = now_ms()
    change(key, token).hold = { kind = kind, since = t, expires = t + ttl, fence = fence }
end

-- A lease was renewed or extended for ttl ms from now.
function M.renewed(key, token, ttl)
    local c = change(key, token)
    local expires = now_ms() + ttl
    if c.hold then
        c.hold.expires = expires
    elseif c.hold == nil then
        c.renewed = expires
    end
end

-- A lease ended (released, lost, expired).
function M.released(key, token)
    local c = change(key, token)
    c.hold, c.renewed = false, nil
end

-- A waiter (its token) starts waiting for key for up to wait_ms (math.huge: no end).
function M.wait(key, token, wait_ms)
    change(key, token).wait = wait_ms ~= math.huge and now_ms() + wait_ms or math.huge
end

-- The waiter stopped waiting (it got the lock or gave up).
function M.waited(key, token)
    change(key, token).wait = false
end

-- Finds or starts the node's lockboard service now, instead of at this service's first lock
-- event: a service that will use locks calls it as it starts, so that the node's services are
-- all there before its first lock (the game's world does). Yields.
function M.start()
    service()
end

-- Sends this service's pending events now and returns once they are on the board. Yields.
function M.sync()
    flush()
    local h = service()
    if h then skynet.call(h, "lua", "sync") end
end

----------------------------------------------------------------------------------------------
-- The service

local SWEEP_CS = 100   -- how often ended leases and waits are taken off

function M.serve()
    local metrics = require "skynet.metrics"
    -- key -> {holders = {token -> {src, kind, since, expires, fence}}, waiters = {token -> until}}
    local keys = {}

    local function publish(key)
        local k = keys[key]
        if not k then return end
        local first, nholders = nil, 0
        for token, h in pairs(k.holders) do
            nholders = nholders + 1
            if not first or h.since < first.since or (h.since == first.since and token < first.token) then
                first = h
            end
        end
        local nwaiters = 0
        for _ in pairs(k.waiters) do nwaiters = nwaiters + 1 end
        if nholders == 0 and nwaiters == 0 then
            keys[key] = nil
            metrics.publish("locks", key, nil)
            return
        end
        local v = { holders = nholders, waiters = nwaiters }
        if first then
            v.holder = skynet.address(first.src)
            v.token = first.token
            v.kind = first.kind
            v.since = first.since
            v.expires = first.expires
            v.fencing = first.fence
        end
        metrics.publish("locks", key, v)
    end

    local function entry(key)
        local k = keys[key]
        if not k then
            k = { holders = {}, waiters = {} }
            keys[key] = k
        end
        return k
    end

    -- One service's changes since its last flush (see change()); each key touched is
    -- published once.
    local function batch(src, list)
        local touched = {}
        for i = 1, #list do
            local c = list[i]
            local key, token = c.key, c.token
            local k = keys[key]
            if c.hold then
                k = k or entry(key)
                local h = c.hold
                h.src, h.token = src, token
                k.holders[token] = h
            elseif c.hold == false then
                if k then k.holders[token] = nil end
            elseif c.renewed then
                local h = k and k.holders[token]
                if h then h.expires = c.renewed end
            end
            if c.wait then
                k = k or entry(key)
                k.waiters[token] = c.wait
            elseif c.wait == false then
                if k then k.waiters[token] = nil end
            end
            if k then touched[key] = true end
        end
        for key in pairs(touched) do publish(key) end
    end

    local function sweep()
        local t = now_ms() - GRACE_MS
        for key, k in pairs(keys) do
            local changed = false
            for token, h in pairs(k.holders) do
                if h.expires < t then
                    k.holders[token] = nil
                    changed = true
                end
            end
            for token, deadline in pairs(k.waiters) do
                if deadline < t then
                    k.waiters[token] = nil
                    changed = true
                end
            end
            if changed then publish(key) end
        end
        skynet.timeout(SWEEP_CS, sweep)
    end

    skynet.start(function()
        skynet.dispatch("lua", function(session, src, cmd, ...)
            if cmd == "sync" then return skynet.retpack(true) end
            if cmd ~= "batch" then error("lockboard: unknown command " .. tostring(cmd)) end
            batch(src, ...)
            if session ~= 0 then skynet.retpack(true) end
        end)
        skynet.timeout(SWEEP_CS, sweep)
    end)
end

return M
