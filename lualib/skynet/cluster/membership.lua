-- Who is in the cluster, kept live in Redis: each node keeps a record of itself (name,
-- host:port, an epoch new at each start, pid, start time) under a TTL and renews it; a node that
-- stops renewing (killed with -9, cut off) drops out within the TTL, a clean stop removes its
-- record at once, and a second live node with a name already taken is refused.
--
-- Keys, all in one hash slot so that the scripts run on Redis Cluster too (`prefix` defaults to
-- "{skyhive:cluster}"):
--   <prefix>:node:<name>   the node's record, with PX ttl: the record is live while it exists
--   <prefix>:nodes         hash name -> record: the index `list` reads (an entry whose node key
--                          expired is stale, and is removed by the next `list`)
--   <prefix>:epoch         counter: each join without an epoch takes the next one, so a node's
--                          epochs only grow
--   <prefix>:events        PUBLISH channel: "join\t<record>" and "leave\t<record>", so that
--                          watchers learn of changes before their next poll
-- A record is "name\thost:port\tepoch\tpid\tstart ms" (names and addresses hold no tab).
--
-- Works over any client of the node's Redis (skynet.db.redis.config: standalone, Sentinel or
-- Cluster), which it uses from the calling coroutines.
--
-- Thread: the owning service. new() does not yield; the other methods do.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local M = {}

local mt = {}
mt.__index = mt

M.PREFIX = "{skyhive:cluster}"
M.TTL = 3000

-- The epoch of a record, read by the scripts (a string: compared as written).
local EPOCH_OF = "local function epoch(r) return string.match(r, '^[^\\t]*\\t[^\\t]*\\t([^\\t]*)') end\n"

-- KEYS: node key, index. ARGV: name, record, epoch, ttl ms.
-- -> {1} joined (or already ours) | {0, record} the name is held by a live node of another epoch
local JOIN = redis.script(EPOCH_OF .. [[
local cur = redis.call('GET', KEYS[1])
if cur and epoch(cur) ~= ARGV[3] then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1}
]])

-- KEYS: node key, index. ARGV: name, record, epoch, ttl ms.
-- -> {1} renewed | {2} the record had expired: set again | {0, record} another epoch holds it
local RENEW = redis.script(EPOCH_OF .. [[
local cur = redis.call('GET', KEYS[1])
if not cur then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
    return {2}
end
if epoch(cur) ~= ARGV[3] then return {0, cur} end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('HGET', KEYS[2], ARGV[1]) ~= cur then redis.call('HSET', KEYS[2], ARGV[1], cur) end
return {1}
]])

-- KEYS: node key, index. ARGV: name, epoch. Removes the record and its index entry if they are
-- of this epoch. -> 1 removed | 0 not ours (or already gone)
local LEAVE = redis.script(EPOCH_OF .. [[
local n = 0
local cur = redis.call('GET', KEYS[1])
if cur and epoch(cur) == ARGV[2] then
    redis.call('DEL', KEYS[1])
    n = 1
end
local indexed = redis.call('HGET', KEYS[2], ARGV[1])
if indexed and epoch(indexed) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
return n
]])

-- KEYS: index, then node keys. ARGV: for each node key, its name and the index entry seen.
-- Removes the entries whose node key is gone and that still hold what was seen (a node that
-- joined again meanwhile keeps its new entry). -> how many
local PRUNE = redis.script [[
local n = 0
for i = 2, #KEYS do
    local name, seen = ARGV[2 * i - 3], ARGV[2 * i - 2]
    if redis.call('EXISTS', KEYS[i]) == 0 and redis.call('HGET', KEYS[1], name) == seen then
        redis.call('HDEL', KEYS[1], name)
        n = n + 1
    end
end
return n
]]

-- A record string as a table: {name, address, epoch, pid, since}, or nil when malformed.
function M.decode(text)
    local name, address, epoch, pid, since =
        string.match(text, "^([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]*)\t([^\t]*)$")
    if not name then return nil end
    return {
        name = name,
        address = address,
        epoch = math.tointeger(tonumber(epoch)) or epoch,
        pid = math.tointeger(tonumber(pid)) or 0,
        since = math.tointeger(tonumber(since)) or 0,
    }
end

local function encode(r)
    return string.format("%s\t%s\t%s\t%d\t%d", r.name, r.address, tostring(r.epoch), r.pid,
        r.since)
end

local function describe(text)
    local r = M.decode(text)
    if not r then return string.format("%q", text) end
    return string.format("%s (pid %d, epoch %s)", r.address, r.pid, tostring(r.epoch))
end

local function own_pid()
    local f = io.open("/proc/self/stat")
    if not f then return 0 end
    local pid = f:read("n")
    f:close()
    return math.tointeger(pid) or 0
end

-- membership.new{client = c, name = "node1", address = "h:p", epoch = e, ttl = ms, prefix = p,
-- pid = n, since = ms} -> m. `client` is a Redis client (skynet.db.redis.config.connect); `epoch`
-- defaults to the next value of the shared counter, taken by join (epochs given by the caller
-- must grow at each start as well); `ttl` defaults to 3000 ms; pid and since (start time, ms
-- since the epoch) default to this process's. Does not yield.
function M.new(opts)
    assert(type(opts) == "table", "membership.new: a table of options expected")
    local name, address = opts.name, opts.address
    if type(name) ~= "string" or not name:match("^[%w_-]+$") or #name > 64 then
        error(string.format("membership.new: name %q: 1 to 64 letters, digits, '_' or '-' expected",
            tostring(name)), 2)
    end
    if type(address) ~= "string" or address:find("[\t%s]") or not address:find(":", 1, true) then
        error(string.format("membership.new: address %q: host:port expected", tostring(address)), 2)
    end
    if not opts.client then error("membership.new: no client", 2) end
    local ttl = math.tointeger(opts.ttl or M.TTL)
    if not ttl or ttl < 10 then
        error(string.format("membership.new: ttl %s: a whole number of ms >= 10 expected",
            tostring(opts.ttl)), 2)
    end
    local prefix = opts.prefix or M.PREFIX
    return setmetatable({
        client = opts.client,
        name = name,
        address = address,
        epoch = opts.epoch,
        ttl = ttl,
        pid = opts.pid or own_pid(),
        since = opts.since or math.floor(skynet.time() * 1000),
        prefix = prefix,
        key = prefix .. ":node:" .. name,
        nodes_key = prefix .. ":nodes",
        epoch_key = prefix .. ":epoch",
        channel = prefix .. ":events",
        joined = false,
    }, mt)
end

-- Tells watchers at once. Only a hint (they poll as well): a failed PUBLISH is not the caller's
-- error.
local function announce(self, kind, record)
    pcall(self.client.publish, self.client, self.channel, kind .. "\t" .. record)
end

-- Joins the membership: takes an epoch (unless given) and sets the record. When another live
-- node (another epoch) holds the name, waits up to `wait_ms` (default 0) for its record to
-- expire (a node restarted right after kill -9), then raises
-- "node name X is already live at h:p (pid P, epoch E)". -> the epoch. Yields.
function mt:join(wait_ms)
    if not self.epoch then self.epoch = self.client:incr(self.epoch_key) end
    local record = encode(self)
    local deadline = skynet.now() + (wait_ms or 0) // 10
    while true do
        local r = JOIN(self.client, 2, self.key, self.nodes_key, self.name, record,
            tostring(self.epoch), self.ttl)
        if r[1] == 1 then break end
        if skynet.now() >= deadline then
            error(string.format("node name %s is already live at %s", self.name, describe(r[2])), 0)
        end
        skynet.sleep(math.max(1, math.min(10, self.ttl // 100)))
    end
    self.joined = true
    announce(self, "join", record)
    return self.epoch
end

-- Renews the record's TTL. -> "renewed" | "rejoined" (it had expired, e.g. while Redis was
-- away: set again, and watchers see the node join again). Raises
-- "node name X is now held by h:p (pid P, epoch E)" when another node took the name. Yields.
function mt:renew()
    if not self.epoch then error("membership: renew of " .. self.name .. " before join", 2) end
    local record = encode(self)
    local r = RENEW(self.client, 2, self.key, self.nodes_key, self.name, record,
        tostring(self.epoch), self.ttl)
    if r[1] == 0 then
        error(string.format("node name %s is now held by %s", self.name, describe(r[2])), 0)
    end
    if r[1] == 2 then
        announce(self, "join", record)
        return "rejoined"
    end
    return "renewed"
end

-- Leaves the membership: removes the record if it is still this node's (epoch), and stops the
-- renewal of keepalive. -> true removed | false it was not ours (or already gone). Yields.
function mt:leave()
    self.joined = false
    if not self.epoch then return false end
    local n = LEAVE(self.client, 2, self.key, self.nodes_key, self.name, tostring(self.epoch))
    if n == 1 then announce(self, "leave", encode(self)) end
    return n == 1
end

-- Renews the record every ttl/3 until leave. A renewal that fails (Redis away) is logged and
-- retried at the next period; when another node holds the name, renewal stops and
-- on_lost(error text) is called (default: log it). Does not yield (forks).
function mt:keepalive(on_lost)
    if self.keeping then return end
    self.keeping = true
    local period = math.max(1, self.ttl // 30) -- centiseconds
    skynet.fork(function()
        local function stop() self.keeping = false end
        local failing = false
        while true do
            skynet.sleep(period)
            if not self.joined then return stop() end
            local ok, r = pcall(self.renew, self)
            if not self.joined then return stop() end
            if ok then
                if failing or r == "rejoined" then
                    skynet.error(string.format("cluster: membership of %s %s", self.name,
                        r == "rejoined" and "restored (its record had expired)" or "renewed again"))
                end
                failing = false
            elseif tostring(r):find("is now held by", 1, true) then
                self.joined = false
                stop()
                if on_lost then
                    on_lost(r)
                else
                    skynet.error("cluster: membership lost: " .. tostring(r))
                end
                return
            elseif not failing then
                failing = true
                skynet.error(string.format("cluster: membership renewal of %s failed: %s",
                    self.name, tostring(r)))
            end
        end
    end)
end

-- The live records, sorted by name: { {name, address, epoch, pid, since}, ... }. Index entries
-- whose node expired are removed on the way. Yields.
function mt:list()
    local all = self.client:hgetall(self.nodes_key)
    local names = {}
    for i = 1, #all, 2 do names[#names + 1] = all[i] end
    if #names == 0 then return {} end
    local keys = {}
    for i, name in ipairs(names) do keys[i] = self.prefix .. ":node:" .. name end
    local live = self.client:mget(table.unpack(keys))
    local list, stale_keys, stale_args = {}, {}, {}
    for i, name in ipairs(names) do
        local text = live[i]
        local r = type(text) == "string" and M.decode(text)
        if r then
            list[#list + 1] = r
        else
            stale_keys[#stale_keys + 1] = keys[i]
            stale_args[#stale_args + 1] = name
            stale_args[#stale_args + 1] = all[2 * i]
        end
    end
    if #stale_keys > 0 then
        pcall(PRUNE, self.client, #stale_keys + 1, self.nodes_key, table.unpack(stale_keys),
            table.unpack(stale_args))
    end
    table.sort(list, function(a, b) return a.name < b.name end)
    return list
end

-- Watches the membership: calls f("join", record) for each live node (those already live at
-- once) and f("leave", record) when one leaves (a clean leave, or its record expired), and
-- f("leave", old) then f("join", new) when a name comes back with a new epoch. Polls `list`
-- every ttl/3; with `watcher` (a redis.watch of the same Redis, which the watch owns from then
-- on) it also listens to the events channel, so joins and clean leaves are seen at once. An
-- expired node is seen within ttl/3 after its record expired. f runs in the watch's coroutine
-- (it may yield; an error is logged). -> w, with w:stop(). With a watcher, yields until the
-- channel's subscription is confirmed (and raises when it fails); the rest runs in forks.
function mt:watch(f, watcher)
    local w = { running = true, known = {}, gone = {}, stamp = 0 }
    local function call(kind, r)
        local ok, err = pcall(f, kind, r)
        if not ok then skynet.error("cluster: membership watch callback: " .. tostring(err)) end
    end
    -- The state is updated before f is called: f may yield, and the watch's other coroutine
    -- goes on meanwhile. A clean leave ends its epoch for good: a poll answered before it
    -- cannot bring it back.
    local function seen(r, stamp)
        if w.gone[r.name .. "\t" .. tostring(r.epoch)] then return end
        local k = w.known[r.name]
        if k and k.rec.epoch == r.epoch then
            if stamp > k.stamp then k.stamp = stamp end
            return
        end
        if k and type(r.epoch) == "number" and type(k.rec.epoch) == "number"
            and r.epoch < k.rec.epoch then
            return -- an older run, read before the newer one joined
        end
        w.known[r.name] = { rec = r, stamp = stamp }
        if k then call("leave", k.rec) end
        call("join", r)
    end
    local function left(r)
        w.gone[r.name .. "\t" .. tostring(r.epoch)] = true
        local k = w.known[r.name]
        if k and k.rec.epoch == r.epoch then
            w.known[r.name] = nil
            call("leave", k.rec)
        end
    end
    local function poll()
        w.stamp = w.stamp + 1
        local start = w.stamp
        local ok, list = pcall(self.list, self)
        if not ok then
            skynet.error("cluster: membership poll failed: " .. tostring(list))
            return
        end
        if not w.running then return end
        local present = {}
        for _, r in ipairs(list) do
            present[r.name] = true
            seen(r, start)
        end
        local gone = {}
        for name, k in pairs(w.known) do
            -- Entries confirmed by an event after the poll began are newer than its answer.
            if not present[name] and k.stamp < start then gone[#gone + 1] = k end
        end
        for _, k in ipairs(gone) do w.known[k.rec.name] = nil end
        for _, k in ipairs(gone) do call("leave", k.rec) end
    end
    if watcher then
        watcher:subscribe(self.channel)
        skynet.fork(function()
            while w.running do
                local got, msg = pcall(watcher.message, watcher)
                if not w.running then break end
                if got then
                    local kind, text = string.match(msg, "^(%a+)\t(.*)$")
                    local r = text and M.decode(text)
                    if r then
                        w.stamp = w.stamp + 1
                        if kind == "join" then
                            seen(r, w.stamp)
                        elseif kind == "leave" then
                            left(r)
                        end
                    end
                else
                    skynet.sleep(10)
                end
            end
        end)
    end
    local period = math.max(1, self.ttl // 30)
    skynet.fork(function()
        while w.running do
            poll()
            skynet.sleep(period)
        end
    end)
    function w.stop()
        w.running = false
        if watcher then pcall(watcher.disconnect, watcher) end
    end
    return w
end

return M
