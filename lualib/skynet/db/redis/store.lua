-- skynet.db.redis.store: records kept in Redis hashes, held in memory by one service and written
-- back when changed (docs/lua-api.md, "Store").
--
--   local store = require "skynet.db.redis.store"
--   local players = store.new(db, { prefix = "player:", defaults = { gold = 100 }, interval = 100 })
--   local p = players:load("alice", true)       -- the record, created from defaults if new
--   players:set("alice", "level", p.level + 1)  -- changes memory, marks the field dirty
--   players:flush("alice")                      -- or let the interval, unload or close do it
--
-- A record is the hash prefix .. id (or opts.key(id)). Its field `version` counts writes. A save
-- is one script that writes the dirty fields only if the version is still the one this service last read or wrote,
-- and bumps it; finding any other version makes the save stale, and on_conflict decides whether
-- the local changes go on top of the newer record (merge, then saved again) or are dropped. So a
-- service that lost track of a record (paused, partitioned, superseded by another node) never
-- overwrites newer state. Anyone else who writes a record must bump `version` in the same
-- script (and may tell the holder with adopt()).
--
-- Thread: the owning service (the one whose client `db` is). Functions that talk to Redis yield;
-- per record they run one at a time, in call order.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local type, pairs, next, pcall, error, assert, tostring, select = type, pairs, next, pcall, error,
    assert, tostring, select
local tointeger, tonumber, tunpack = math.tointeger, tonumber, table.unpack

local LOAD = redis.script [[
if redis.call('EXISTS', KEYS[1]) == 0 then
    if ARGV[1] ~= '1' then return false end
    redis.call('HSET', KEYS[1], 'version', 1, unpack(ARGV, 2))
    return {1, redis.call('HGETALL', KEYS[1])}
end
return {0, redis.call('HGETALL', KEYS[1])}
]]

-- ARGV: the version this writer knows, then field, value pairs. -> {1, new version}, or
-- {0, the whole current record} (empty when it no longer exists).
local SAVE = redis.script [[
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) or redis.call('EXISTS', KEYS[1]) == 0 then
    return {0, redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'version', v + 1, unpack(ARGV, 2))
return {1, v + 1}
]]

local MAX_MERGES = 8 -- saves in a row that may find a newer version before flush gives up

local store = {}
store.__index = store

-- store.new(db, opts) -> store. opts:
--   prefix       key prefix of the records ("")
--   key          function(id) -> the record's key, instead of prefix .. id (e.g. with a hash
--                tag on Redis Cluster: "player:{" .. id .. "}"; each record is one key and
--                every script of the store touches that key only, so any slot will do)
--   defaults     fields of a record created by load(id, true); fields whose default is a
--                number read back as numbers
--   numbers      more fields that read back as numbers ({ "score", ... })
--   interval     centiseconds between automatic flushes of dirty records (false: none; 100)
--   on_conflict  function(id, rec, remote, remote_version, dirty) -> "merge" | "drop", called
--                when Redis holds another version than ours; `dirty` is the set of fields
--                changed here and not saved. "merge" keeps those fields and takes the rest from
--                `remote`; "drop" (the default) replaces the record with `remote`.
--   log          function(text) for flush failures of the automatic flush (skynet.error)
--   on_save      function(id, outcome) after each save that had changes to write: "saved",
--                "stale", "gone" or "unavailable" (what flush returns); for metrics, must not
--                yield
-- Does not yield.
function store.new(db, opts)
    opts = opts or {}
    assert(opts.key == nil or type(opts.key) == "function", "store: opts.key must be a function")
    local numeric = {}
    for k, v in pairs(opts.defaults or {}) do
        if type(v) == "number" then numeric[k] = true end
    end
    for _, k in pairs(opts.numbers or {}) do numeric[k] = true end
    local defaults = {}
    for k, v in pairs(opts.defaults or {}) do
        assert(k ~= "version", "store: 'version' is the store's own field")
        defaults[#defaults + 1] = k
        defaults[#defaults + 1] = v
    end
    local self = setmetatable({
        db = db,
        prefix = opts.prefix or "",
        key_of = opts.key,
        defaults = defaults,
        numeric = numeric,
        on_conflict = opts.on_conflict,
        on_save = opts.on_save,
        log = opts.log or skynet.error,
        entries = {}, -- id -> { rec, version, dirty = {field = true}, busy, waiters, loaded }
        closed = false,
    }, store)
    local interval = opts.interval
    if interval == nil then interval = 100 end
    if interval then
        assert(tointeger(interval) and interval > 0, "store: interval must be a positive integer")
        local function tick()
            if self.closed then return end
            self:flush_all(true)
            skynet.timeout(interval, tick)
        end
        skynet.timeout(interval, tick)
    end
    return self
end

----------------------------------------------------------------------------------------------
-- Per-record exclusion: one Redis operation of a record at a time, in call order.

local function lock(e)
    if e.busy then
        local co = coroutine.running()
        e.waiters[#e.waiters + 1] = co
        skynet.wait(co)
    end
    e.busy = true
end

local function unlock(e)
    local co = table.remove(e.waiters, 1)
    if co then
        skynet.wakeup(co) -- busy stays true: the lock passes straight to the next waiter
    else
        e.busy = false
    end
end

local function locked(e, f, ...)
    lock(e)
    local r = table.pack(pcall(f, ...))
    unlock(e)
    if not r[1] then error(r[2], 0) end
    return tunpack(r, 2, r.n)
end

----------------------------------------------------------------------------------------------

-- HGETALL's flat array -> fields, version (0 when absent).
local function decode(self, flat)
    local rec, version = {}, 0
    for i = 1, (flat.n or #flat), 2 do
        local k, v = flat[i], flat[i + 1]
        if k == "version" then
            version = tointeger(tonumber(v)) or 0
        elseif self.numeric[k] then
            local x = tonumber(v)
            rec[k] = tointeger(x) or x
        else
            rec[k] = v
        end
    end
    return rec, version
end

-- Replaces the contents of rec in place (holders of the table see the change), keeping the
-- fields named in `keep`.
local function rebase(rec, remote, keep)
    for k in pairs(rec) do
        if not keep[k] and remote[k] == nil then rec[k] = nil end
    end
    for k, v in pairs(remote) do
        if not keep[k] then rec[k] = v end
    end
end

local function key(self, id)
    local key_of = self.key_of
    if key_of then return key_of(id) end
    return self.prefix .. id
end

-- A newer (or other) version was found in Redis: merge or drop per on_conflict. Returns
-- "merged" or "dropped".
local function resolve(self, id, e, remote, version)
    local decision = self.on_conflict and self.on_conflict(id, e.rec, remote, version, e.dirty)
        or "drop"
    if decision == "merge" then
        rebase(e.rec, remote, e.dirty)
        e.version = version
        return "merged"
    end
    assert(decision == "drop", "store: on_conflict must return 'merge' or 'drop'")
    rebase(e.rec, remote, {})
    e.dirty = {}
    e.version = version
    return "dropped"
end

-- store:load(id [, create]) -> rec, created | nil, "missing" | nil, "unavailable", detail.
-- A record already loaded is returned as it is in memory (created = false). Yields.
function store:load(id, create)
    assert(type(id) == "string" and id ~= "", "store:load: id must be a non-empty string")
    local e = self.entries[id]
    if not e then
        e = { rec = {}, version = 0, dirty = {}, busy = false, waiters = {}, loaded = false }
        self.entries[id] = e
    end
    return locked(e, function()
        if e.loaded then
            -- In use again: an unload still waiting for the automatic flush must not forget it.
            e.unloading = nil
            return e.rec, false
        end
        local ok, r = pcall(LOAD, self.db, 1, key(self, id), create and "1" or "0",
            tunpack(self.defaults))
        if not ok or not r then
            if #e.waiters == 0 then self.entries[id] = nil end
            if not ok then return nil, "unavailable", r end
            return nil, "missing"
        end
        local rec, version = decode(self, r[2])
        rebase(e.rec, rec, {})
        e.version, e.loaded = version, true
        return e.rec, r[1] == 1
    end)
end

-- The record in memory (nil when not loaded). Change it only through set() or with mark().
function store:get(id)
    local e = self.entries[id]
    return e and e.loaded and e.rec or nil
end

-- The version the record had when this service last read or wrote it.
function store:version(id)
    local e = self.entries[id]
    return e and e.version
end

-- Changes one field in memory and marks it dirty. Does not yield.
function store:set(id, field, value)
    local e = self.entries[id]
    assert(e and e.loaded, "store:set: record not loaded")
    assert(field ~= "version", "store:set: 'version' is the store's own field")
    assert(type(value) == "string" or type(value) == "number", "store:set: string or number value")
    e.rec[field] = value
    e.dirty[field] = true
end

-- Marks fields changed in place (rec[field] = v) as dirty. Does not yield.
function store:mark(id, ...)
    local e = self.entries[id]
    assert(e and e.loaded, "store:mark: record not loaded")
    for i = 1, select("#", ...) do e.dirty[(select(i, ...))] = true end
end

-- True when the record has changes not yet saved.
function store:dirty(id)
    local e = self.entries[id]
    return e ~= nil and next(e.dirty) ~= nil
end

local save_once

local function save(self, id, e)
    local had = next(e.dirty) ~= nil
    local ok, why, detail = save_once(self, id, e)
    if had and self.on_save then self.on_save(id, ok and "saved" or why) end
    return ok, why, detail
end

function save_once(self, id, e)
    for _ = 1, MAX_MERGES do
        if not next(e.dirty) then return true end
        local args, sent = {}, e.dirty
        for f in pairs(sent) do
            local v = e.rec[f]
            args[#args + 1] = f
            args[#args + 1] = v
        end
        -- Fields set while the script is in flight are dirty again for the next save.
        e.dirty = {}
        local ok, r = pcall(SAVE, self.db, 1, key(self, id), e.version, tunpack(args))
        if not ok then
            for f in pairs(sent) do e.dirty[f] = true end
            return nil, "unavailable", r
        end
        if r[1] == 1 then
            e.version = r[2]
        else
            for f in pairs(sent) do e.dirty[f] = true end
            local remote, version = decode(self, r[2])
            if version == 0 and next(remote) == nil then
                e.gone = true
                return nil, "gone"
            end
            if resolve(self, id, e, remote, version) == "dropped" then
                return nil, "stale", version
            end
        end
    end
    return nil, "stale", e.version
end

-- store:flush(id) -> true (saved, or nothing to save) | nil, why [, detail]. why:
--   "unavailable"  Redis did not answer (detail: the client's text); the fields stay dirty and
--                  a later flush saves them (even if this one was applied, the retry finds our
--                  own write and merges or drops per on_conflict)
--   "stale"        a newer version was found and on_conflict dropped the local changes
--   "gone"         the record no longer exists in Redis; the local changes are kept
-- Yields.
function store:flush(id)
    local e = self.entries[id]
    if not e or not e.loaded then return true end
    return locked(e, save, self, id, e)
end

-- Flushes every dirty record at once (one pipelined batch on the client) and returns how many
-- failed. `quiet`: log failures instead of leaving them to the caller only. Yields.
function store:flush_all(quiet)
    local pending, failed, me = 0, 0, coroutine.running()
    for id, e in pairs(self.entries) do
        if e.loaded and (next(e.dirty) or e.unloading) and not e.flushing then
            pending = pending + 1
            e.flushing = true
            skynet.fork(function()
                local ok, why, detail = pcall(self.flush, self, id)
                e.flushing = false
                if ok and why == true then
                    -- Not while someone waits for the record (a load: it is wanted again).
                    if e.unloading and not next(e.dirty) and not e.busy and
                        self.entries[id] == e then
                        self.entries[id] = nil
                    end
                else
                    failed = failed + 1
                    if quiet then
                        self.log(string.format("store: flush %s: %s", key(self, id),
                            tostring(ok and (detail or why) or why)))
                    end
                end
                pending = pending - 1
                if pending == 0 then skynet.wakeup(me) end
            end)
        end
    end
    if pending > 0 then skynet.wait(me) end
    return failed
end

-- store:refresh(id) -> "same" | "merged" | "dropped" | nil, "gone" | nil, "unavailable",
-- detail: reads the record and, when its version differs, resolves it per on_conflict. Yields.
function store:refresh(id)
    local e = self.entries[id]
    assert(e and e.loaded, "store:refresh: record not loaded")
    return locked(e, function()
        local ok, flat = pcall(self.db.hgetall, self.db, key(self, id))
        if not ok then return nil, "unavailable", flat end
        local remote, version = decode(self, flat)
        if version == 0 and next(remote) == nil then
            e.gone = true
            return nil, "gone"
        end
        if version == e.version then return "same" end
        return resolve(self, id, e, remote, version)
    end)
end

-- store:adopt(id, values, version): another writer changed fields of the record (`values`) and
-- the record's version became `version`. When that is the next version after ours, nothing
-- else can have happened in between: the values are taken (over local unsaved changes of the
-- same fields) without a read. An older version is ignored; a later one means writes we did not
-- see, so the record is refreshed. Returns what refresh returns ("same" when applied). Yields.
function store:adopt(id, values, version)
    local e = self.entries[id]
    if not e or not e.loaded then return nil, "missing" end
    local r = table.pack(locked(e, function()
        if version <= e.version then return "same" end
        if version == e.version + 1 then
            for k, v in pairs(values) do
                e.rec[k] = v
                e.dirty[k] = nil
            end
            e.version = version
            return "same"
        end
        return false
    end))
    if r[1] == false then return self:refresh(id) end
    return tunpack(r, 1, r.n)
end

-- store:unload(id) -> what flush returns. Saves and forgets the record. When Redis is
-- unavailable the record stays in memory and the automatic flush keeps trying; it is forgotten
-- once saved. Yields.
function store:unload(id)
    local e = self.entries[id]
    if not e then return true end
    local ok, why, detail = self:flush(id)
    if (ok or why ~= "unavailable") and self.entries[id] == e and not e.busy then
        self.entries[id] = nil
    else
        e.unloading = true -- the automatic flush forgets it once saved
    end
    return ok, why, detail
end

-- Ids of the records in memory.
function store:ids()
    local list = {}
    for id, e in pairs(self.entries) do
        if e.loaded then list[#list + 1] = id end
    end
    return list
end

-- Stops the automatic flush and flushes everything; returns how many records failed. Yields.
function store:close()
    self.closed = true
    return self:flush_all(true)
end

return store
