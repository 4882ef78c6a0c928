-- The node's board of locks: who holds which lock (lock, read/write lease, semaphore permit)
-- and how many wait for it, kept current in the status board topic "locks" (skynet.metrics
-- publish/board; docs/operations.md).
--
-- One writer per node, the lockboard service (services/lua/lockboard.lua), so that a holder in
-- one service and waiters in others never overwrite each other's view: the lock library of every
-- service tells it what happens (held, renewed, released, wait, waited) by send, in order, and
-- it publishes one entry per key:
--   {holder = ":0000002a" (the oldest holder's address), token =, fencing = n (fenced locks),
--    since = ms (wall clock, when it was taken), expires = ms (when its lease ends unless
--    renewed), kind = "lock" | "read" | "write" | "semaphore", holders = n, waiters = n}
-- An entry goes when nothing holds or waits for the key. A holder that stops without releasing
-- stays until its lease's end (the lock in Redis does too); a waiter until its wait's end.
--
-- Thread: the client functions run in the calling service (they do not yield, except the first
-- one, which finds or starts the service, and sync); serve() is the service's body.
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

local function tell(...)
    local h = service()
    if h then skynet.send(h, "lua", ...) end
end

-- A lease was granted: key, kind, token, ttl (ms), fence (or nil).
function M.held(key, kind, token, ttl, fence)
    tell("held", key, kind, token, ttl, fence)
end

-- A lease was renewed or extended for ttl ms from now.
function M.renewed(key, token, ttl)
    tell("renewed", key, token, ttl)
end

-- A lease ended (released, lost, expired).
function M.released(key, token)
    tell("released", key, token)
end

-- A waiter (its token) starts waiting for key for up to wait_ms (math.huge: no end).
function M.wait(key, token, wait_ms)
    tell("wait", key, token, wait_ms ~= math.huge and wait_ms or nil)
end

-- The waiter stopped waiting (it got the lock or gave up).
function M.waited(key, token)
    tell("waited", key, token)
end

-- Finds or starts the node's lockboard service now, instead of at this service's first lock
-- event: a service that will use locks calls it as it starts, so that the node's services are
-- all there before its first lock (the game's world does). Yields.
function M.start()
    service()
end

-- Returns once everything this service told the board is on it. Yields.
function M.sync()
    local h = service()
    if h then skynet.call(h, "lua", "sync") end
end

----------------------------------------------------------------------------------------------
-- The service

local SWEEP_CS = 100   -- how often ended leases and waits are taken off
local GRACE_MS = 1000  -- a lease or wait past its end by this much is gone

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

    local CMD = {}
    function CMD.held(src, key, kind, token, ttl, fence)
        local t = now_ms()
        entry(key).holders[token] = { src = src, token = token, kind = kind, since = t,
            expires = t + ttl, fence = fence }
        publish(key)
    end
    function CMD.renewed(_, key, token, ttl)
        local h = keys[key] and keys[key].holders[token]
        if h then
            h.expires = now_ms() + ttl
            publish(key)
        end
    end
    function CMD.released(_, key, token)
        local k = keys[key]
        if k and k.holders[token] then
            k.holders[token] = nil
            publish(key)
        end
    end
    function CMD.wait(_, key, token, wait_ms)
        entry(key).waiters[token] = wait_ms and now_ms() + wait_ms or math.huge
        publish(key)
    end
    function CMD.waited(_, key, token)
        local k = keys[key]
        if k and k.waiters[token] then
            k.waiters[token] = nil
            publish(key)
        end
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
            local f = CMD[cmd]
            if not f then error("lockboard: unknown command " .. tostring(cmd)) end
            f(src, ...)
            if session ~= 0 then skynet.retpack(true) end
        end)
        skynet.timeout(SWEEP_CS, sweep)
    end)
end

return M
