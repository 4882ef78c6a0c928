-- Pub/sub for skynet.db.redis: redis.watch(opts) returns a watcher on a connection of its own.
--
--   local w = redis.watch { host = "127.0.0.1", port = 6379, auth = "pw" }
--   w:subscribe("news", "chat")      -- waits until the server has confirmed every channel
--   w:psubscribe("user.*")
--   w:ssubscribe("room:{7}")         -- a shard channel (Redis 7): one SSUBSCRIBE per channel
--   local msg, channel, pattern = w:message()   -- pattern only for psubscribe matches
--   w:unsubscribe("chat"); w:punsubscribe(); w:disconnect()
--
-- Messages are queued in arrival order until message() takes them (the queue is not bounded:
-- a watcher must be read). When the connection drops the watcher reconnects with backoff,
-- repeats AUTH/SELECT and subscribes again to every channel and pattern it had; messages
-- published while it was away are lost (Redis pub/sub does not keep them).
--
-- Thread: the owning service. subscribe, psubscribe and message yield.
local skynet = require "skynet"
local connection = require "skynet.db.redis.connection"

local format, type, pairs, select, error = string.format, type, pairs, select, error
local wait, wakeup = skynet.wait, skynet.wakeup

local M = {}
local watch = {}
watch.__index = watch

local function restore(self)
    local c = self.conn
    local list = {}
    for ch in pairs(self.channels) do list[#list + 1] = ch end
    if #list > 0 then c:send_only("SUBSCRIBE", list) end
    list = {}
    for p in pairs(self.patterns) do list[#list + 1] = p end
    if #list > 0 then c:send_only("PSUBSCRIBE", list) end
    -- One SSUBSCRIBE per shard channel: in a cluster, channels of one command must share a slot.
    for ch in pairs(self.shard) do c:send_only("SSUBSCRIBE", ch) end
    -- Each name went once: its next confirmation answers every coroutine waiting for it so far,
    -- whose own SUBSCRIBE was never sent (they came while reconnecting) or went on the
    -- connection that dropped.
    for key, waiting in pairs(self.confirms) do self.restored[key] = #waiting end
end

local function deliver(self, msg, channel, pattern)
    -- A watcher that feeds another's queue (the shard connections of a cluster watcher).
    if self.sink then return self.sink(msg, channel, pattern) end
    local tail = self.mtail + 1
    self.mtail = tail
    self.msgs[tail] = { msg, channel, pattern }
    local token = table.remove(self.readers, 1)
    if token then wakeup(token) end
end

M.deliver = deliver

local function confirm(self, kind, name)
    local key = kind .. "\0" .. name
    local list = self.confirms[key]
    if not list then return end
    -- One confirmation per SUBSCRIBE of this name: it answers the oldest waiter, or those the
    -- restore's one SUBSCRIBE stood for.
    local n = self.restored[key] or 1
    self.restored[key] = nil
    for _ = 1, math.min(n, #list) do
        local token = table.remove(list, 1)
        token.left = token.left - 1
        if token.left == 0 then wakeup(token) end
    end
    if #list == 0 then self.confirms[key] = nil end
end

-- Takes the coroutines waiting for the confirmation of (kind, name) away from this watcher, for
-- another one to settle: a cluster watcher moving a shard channel to its new node.
function M.handover(self, kind, name)
    local key = kind .. "\0" .. name
    local list = self.confirms[key] or {}
    self.confirms[key] = nil
    self.restored[key] = nil
    return list
end

-- Counts the confirmation for each token handover() returned.
function M.settle(tokens)
    for _, token in ipairs(tokens) do
        token.left = token.left - 1
        if token.left == 0 then wakeup(token) end
    end
end

local function on_push(self, v)
    if type(v) ~= "table" then return end
    local kind = v[1]
    if kind == "message" then
        deliver(self, v[3], v[2])
    elseif kind == "pmessage" then
        deliver(self, v[4], v[3], v[2])
    elseif kind == "smessage" then
        deliver(self, v[3], v[2])
    elseif kind == "subscribe" or kind == "psubscribe" or kind == "ssubscribe" then
        confirm(self, kind, v[2])
    elseif kind == "sunsubscribe" then
        -- Sent by the server too, when the channel's slot moved away: the subscription is gone.
        local ch = v[2]
        if self.shard[ch] and self.on_lost_shard then self.on_lost_shard(self, ch) end
    elseif connection.is_error(v) then
        if self.on_error then return self.on_error(self, v.err) end
        skynet.error(format("%s: pub/sub: %s", self.conn.addr, v.err))
    end
end

function M.new(opts)
    opts = opts or {}
    local c = connection.new(opts, "pubsub")
    local self = setmetatable({
        conn = c,
        channels = {},
        patterns = {},
        shard = {},     -- shard channels (SSUBSCRIBE)
        sink = opts.sink,  -- function(msg, channel) taking the messages instead of the queue
        on_lost_shard = nil,  -- function(w, channel) when the server dropped a shard channel
        on_error = nil,  -- function(w, text) for an error reply (else it is logged)
        msgs = {}, mhead = 1, mtail = 0,
        readers = {},   -- tokens of coroutines waiting in message()
        confirms = {},  -- "kind\0name" -> tokens waiting for that confirmation
        restored = {},  -- "kind\0name" -> how many of them its next confirmation answers
    }, watch)
    c.on_push = function(_, v) return on_push(self, v) end
    c.on_ready = function() return restore(self) end
    c:connect()
    return self
end

local function subscribe(self, kind, set, ...)
    local n = select("#", ...)
    if n == 0 then return end
    local c = self.conn
    if c.state == "closed" then
        error(format("%s: %s: the watcher was closed", c.addr, kind:upper()), 2)
    end
    local token = { left = n }
    local names = { ... }
    for i = 1, n do
        local name = names[i]
        if type(name) ~= "string" then
            error(format("%s: %s: argument #%d is a %s (string expected)", c.addr, kind:upper(), i,
                type(name)), 3)
        end
        set[name] = true
        local key = kind .. "\0" .. name
        local list = self.confirms[key]
        if not list then
            list = {}
            self.confirms[key] = list
        end
        list[#list + 1] = token
    end
    -- While reconnecting the restore after the handshake sends it.
    if c.state == "ready" then
        if kind == "ssubscribe" then
            for i = 1, n do c:send_only("SSUBSCRIBE", names[i]) end
        else
            c:send_only(kind:upper(), names)
        end
    end
    if c.timeout_cs then
        skynet.timeout(c.timeout_cs, function()
            if token.left > 0 then
                token.err = format("%s: %s: not confirmed within %d ms (%s)", c.addr, kind:upper(),
                    c.timeout_cs * 10, c.cause or "no reply")
                wakeup(token)
            end
        end)
    end
    wait(token)
    if token.err then error(token.err, 0) end
end

-- Yields until the server has confirmed every channel (or the timeout, with an error).
function watch:subscribe(...)
    return subscribe(self, "subscribe", self.channels, ...)
end

function watch:psubscribe(...)
    return subscribe(self, "psubscribe", self.patterns, ...)
end

-- Shard channels (Redis 7's SSUBSCRIBE); yields until each is confirmed.
function watch:ssubscribe(...)
    return subscribe(self, "ssubscribe", self.shard, ...)
end

local function unsubscribe(self, command, set, ...)
    local c = self.conn
    local n = select("#", ...)
    if n == 0 then
        for k in pairs(set) do set[k] = nil end
    else
        for i = 1, n do set[(select(i, ...))] = nil end
    end
    if c.state == "ready" then c:send_only(command, { ... }) end
end

-- Does not wait: messages already queued for the channels are still returned by message().
function watch:unsubscribe(...)
    return unsubscribe(self, "UNSUBSCRIBE", self.channels, ...)
end

function watch:punsubscribe(...)
    return unsubscribe(self, "PUNSUBSCRIBE", self.patterns, ...)
end

function watch:sunsubscribe(...)
    local c = self.conn
    local n = select("#", ...)
    local list = { ... }
    if n == 0 then
        for k in pairs(self.shard) do list[#list + 1] = k end
    end
    for _, ch in ipairs(list) do
        self.shard[ch] = nil
        if c.state == "ready" then c:send_only("SUNSUBSCRIBE", ch) end
    end
end

-- The next message: msg, channel (and the pattern for a psubscribe match). Yields until one
-- arrives; raises once the watcher is closed.
function watch:message()
    while self.mhead > self.mtail do
        if self.conn.state == "closed" then
            error(self.conn.addr .. ": the watcher was closed", 2)
        end
        local token = {}
        self.readers[#self.readers + 1] = token
        wait(token)
    end
    local head = self.mhead
    local m = self.msgs[head]
    self.msgs[head] = nil
    self.mhead = head + 1
    if self.mhead > self.mtail then self.mhead, self.mtail = 1, 0 end
    return m[1], m[2], m[3]
end

-- Messages queued and not yet taken.
function watch:pending()
    return self.mtail - self.mhead + 1
end

function watch:disconnect()
    self.conn:close()
    local readers = self.readers
    self.readers = {}
    for i = 1, #readers do wakeup(readers[i]) end
end
watch.close = watch.disconnect

return M
