-- The sentinel watcher: one per node (the sentinel_watcher service; in-service when that service
-- cannot be launched), shared by every Sentinel client of the node.
--
-- For each group (a master name, a sentinel list and sentinel credentials) it keeps:
--   * a command link to each sentinel it asks (connection.lua, short timeouts), for discovery:
--     SENTINEL get-master-addr-by-name + master + replicas + sentinels in one round trip;
--   * a PSUBSCRIBE * on every known sentinel (+switch-master, the failover progress events,
--     aborts, new sentinels), each reconnecting by itself;
--   * a poll loop (every `poll` ms, every 200 ms while a failover runs) as the backstop for lost
--     events;
--   * while a failover holds the clients, a link to the replica the leader chose, asked ROLE
--     every 10 ms: the moment it answers master ends the hold (promote_poll).
-- Its view is one state table per group:
--   version    grows on every change; clients long-poll next(id, version)
--   master     "host:port" of the master the sentinels name, or nil before the first answer
--   epoch      the config epoch of that answer (a lower one from a lagging sentinel is ignored)
--   failover   true from +selected-slave of this master (the leader detaches the chosen replica
--              on its next timer round, about 100 ms later; later steps of the same failover
--              also set it, in case that event was missed) until the chosen replica answers
--              ROLE as master, +switch-master, an abort, or polls showing no sentinel with one
--              in progress: clients hold writes meanwhile, so nothing acknowledged lands on a
--              master that no longer replicates to its successor
--   replicas   {"host:port", ...} replicas the sentinels see healthy
--   err        why no sentinel answered (each one named), or nil
--
-- Thread: the owning service. register and next yield.
local skynet = require "skynet"
local connection = require "skynet.db.redis.connection"
local request = require "skynet.db.redis.request"
local events = require "skynet.db.redis.sentinel_events"
local board = require "skynet.db.redis.sentinel_board"

local format, concat, tonumber, tostring = string.format, table.concat, tonumber, tostring
local now, fork, sleep, wakeup, wait = skynet.now, skynet.fork, skynet.sleep, skynet.wakeup,
    skynet.wait
local is_error = connection.is_error

local MAX_SUBSCRIBED = 8   -- sentinels with a live subscription per group
local FAST_POLL_CS = 20    -- poll period while a failover runs
local LINK_RETRY_CS = 50   -- a sentinel that failed is not asked again before this
local QUIET_POLLS = 2      -- polls without a failover in progress anywhere before a thaw
local LINGER_CS = 3000     -- a group without clients stops after this
local PROMOTE_POLL_CS = 1  -- the chosen replica is asked ROLE this often while clients hold
local PROMOTE_RETRY_CS = 5 -- after a failed connection to it

local M = {}

local function split(addr)
    local host, port = addr:match("^(.*):(%d+)$")
    return host, tonumber(port)
end
M.split = split

-- {k1, v1, k2, v2...} -> {k1 = v1, ...}
local function fields(list)
    local t = {}
    if type(list) ~= "table" or is_error(list) then return t end
    for i = 1, #list - 1, 2 do t[list[i]] = list[i + 1] end
    return t
end

local function healthy(info)
    local flags = info.flags or ""
    return not flags:find("s_down", 1, true) and not flags:find("o_down", 1, true) and
        not flags:find("disconnected", 1, true) and info["master-link-status"] ~= "err"
end

----------------------------------------------------------------------------------------------
-- A group

local group = {}
group.__index = group

local function new_group(id, spec)
    local g = setmetatable({
        id = id,
        name = spec.master,
        auth = spec.sentinel_auth,
        username = spec.sentinel_username,
        -- Credentials of the Redis servers, for the ROLE probe of a chosen replica: the first
        -- client's (a probe that fails leaves the release to +switch-master).
        data_auth = spec.auth,
        data_username = spec.username,
        promoting = nil,  -- "host:port" of the chosen replica while promote_poll runs
        poll_cs = math.max(1, (spec.poll or 1000) // 10),
        sentinels = {}, known = {},
        links = {},       -- addr -> {conn, cause, retry_at, connecting}
        subscribed = {},  -- addr -> true while its subscriber runs
        watches = {},     -- addr -> the subscriber's live watch
        nsubscribed = 0,
        state = { version = 0, master = nil, epoch = -1, failover = false, replicas = {}, err = nil },
        waiters = {},     -- tokens of next() callers
        first = nil,      -- joiners waiting for the first resolution
        resolved = false,
        resolving = false, again = false,
        quiet = 0,        -- polls in a row that saw no failover in progress while frozen
        pending_epoch = -1,
        poll_token = nil,
        refs = 0,         -- clients registered and not released
        stopped = false,
    }, group)
    for _, a in ipairs(spec.sentinels) do g:add_sentinel(a) end
    return g
end

-- Applies changes to the state; wakes the long-polls when something changed.
function group:publish(changes)
    local st = self.state
    local old_master, old_failover = st.master, st.failover
    local changed = false
    for k, v in pairs(changes) do
        if k == "replicas" then
            if concat(v, ",") ~= concat(st.replicas, ",") then
                st.replicas = v
                changed = true
            end
        elseif st[k] ~= v then
            st[k] = v
            changed = true
        end
    end
    if not changed then return end
    st.version = st.version + 1
    if st.failover and not old_failover then
        self:board_event("writes-held", tostring(st.master))
    elseif old_failover and not st.failover then
        self:board_event("writes-released", tostring(st.master))
    end
    if st.master ~= old_master then self:board_master(old_master, st.master) end
    self:board_publish()
    local list = self.waiters
    self.waiters = {}
    for i = 1, #list do wakeup(list[i]) end
end

function group:add_sentinel(addr)
    if self.known[addr] or not split(addr) then return end
    self.known[addr] = true
    self.sentinels[#self.sentinels + 1] = addr
    if self.state then self:board_publish() end
    if self.started and self.nsubscribed < MAX_SUBSCRIBED then fork(self.subscriber, self, addr) end
end

-- A ready command link to the sentinel, or nil and why. Yields on a first connect.
function group:link(addr)
    local l = self.links[addr]
    if not l then
        l = {}
        self.links[addr] = l
    end
    local c = l.conn
    if c then
        if c.state == "ready" then return c end
        if c.state ~= "closed" then return nil, format("sentinel %s: %s", addr, c.cause or "not connected") end
        l.conn = nil
    end
    if l.connecting or (l.retry_at and now() < l.retry_at) then return nil, l.cause end
    local host, port = split(addr)
    c = connection.new { host = host, port = port, auth = self.auth, username = self.username,
        timeout = 500, connect_timeout = 500, backoff_min = 50, backoff_max = 1000 }, "sentinel"
    c.addr = "sentinel " .. addr
    l.connecting = true
    local ok, err = pcall(c.connect, c)
    l.connecting = false
    if not ok then
        l.cause, l.retry_at = err, now() + LINK_RETRY_CS
        return nil, err
    end
    l.conn, l.cause, l.retry_at = c, nil, nil
    return c
end

-- One sentinel's answer: {addr, epoch, replicas, in_progress}, or nil and why. Yields.
function group:ask(addr)
    local c, err = self:link(addr)
    if not c then return nil, err end
    local name = self.name
    local r = request.new("SENTINEL", {
        { "SENTINEL", "get-master-addr-by-name", name, n = 3 },
        { "SENTINEL", "master", name, n = 3 },
        { "SENTINEL", "replicas", name, n = 3 },
        { "SENTINEL", "sentinels", name, n = 3 },
    })
    local ok, replies = pcall(function()
        c:issue(r)
        return c:await(r)
    end)
    if not ok then return nil, replies end
    local a = replies[1]
    if is_error(a) then return nil, format("sentinel %s: %s", addr, a.err) end
    if type(a) ~= "table" or not a[2] then
        return nil, format("sentinel %s: unknown master name '%s'", addr, name)
    end
    local info = fields(replies[2])
    local replicas = {}
    if type(replies[3]) == "table" and not is_error(replies[3]) then
        for _, item in ipairs(replies[3]) do
            local f = fields(item)
            if f.ip and f.port and healthy(f) then replicas[#replicas + 1] = f.ip .. ":" .. f.port end
        end
        table.sort(replicas)
    end
    if type(replies[4]) == "table" and not is_error(replies[4]) then
        for _, item in ipairs(replies[4]) do
            local f = fields(item)
            if f.ip and f.port then self:add_sentinel(f.ip .. ":" .. f.port) end
        end
    end
    return {
        master = a[1] .. ":" .. a[2],
        epoch = tonumber(info["config-epoch"]) or 0,
        replicas = replicas,
        in_progress = (info.flags or ""):find("failover_in_progress", 1, true) ~= nil,
    }
end

-- Takes an answer about the master.
function group:accept(ans)
    local st = self.state
    if st.master and ans.master ~= st.master and ans.epoch < st.epoch then
        return  -- a sentinel that has not heard of the newer configuration yet
    end
    local changes = { master = ans.master, epoch = math.max(ans.epoch, st.epoch), err = false,
        replicas = ans.replicas }
    if ans.master ~= st.master and st.master then changes.failover = false end
    self:publish(changes)
end

-- Asks the sentinels in turn (the last one that answered first) until two have answered, or
-- all of them while a failover is under way (to see whether one still runs it). Yields.
function group:resolve_once()
    local errs, best, answered, in_progress = {}, nil, 0, false
    local frozen = self.state.failover
    local list = { table.unpack(self.sentinels) }
    for i = 1, #list do
        local addr = list[i]
        local ans, err = self:ask(addr)
        if ans then
            answered = answered + 1
            if answered == 1 and self.sentinels[1] ~= addr then
                for j = 1, #self.sentinels do
                    if self.sentinels[j] == addr then
                        table.remove(self.sentinels, j)
                        break
                    end
                end
                table.insert(self.sentinels, 1, addr)
            end
            if not best or ans.epoch > best.epoch then best = ans end
            in_progress = in_progress or ans.in_progress
            if answered >= 2 and not frozen then break end
        else
            errs[#errs + 1] = tostring(err)
        end
    end
    if not best then
        self:publish { err = concat(errs, "; ") }
        return
    end
    self:accept(best)
    -- A failover whose end (or abort) we did not hear of: thaw once no sentinel runs one.
    if self.state.failover and best.master == self.state.master then
        if in_progress or answered < #list then
            self.quiet = 0
        else
            self.quiet = self.quiet + 1
            if self.quiet >= QUIET_POLLS then self:publish { failover = false } end
        end
    end
end

-- The leader of a failover of the current master named its chosen replica: ask it for its ROLE
-- until it is master or the hold ends otherwise. Does not yield (the probe runs in a coroutine).
function group:promote_watch(addr)
    if self.promoting == addr or not split(addr) then return end
    self.promoting = addr
    fork(self.promote_poll, self, addr, self.state.master)
end

-- One ROLE of the chosen replica over c (made when nil); returns the role or nil, the
-- connection to use next time (nil after a failure), and true when it could not connect. Yields.
function group:probe(c, addr)
    if not c then
        local host, port = split(addr)
        c = connection.new({ host = host, port = port, auth = self.data_auth,
            username = self.data_username, timeout = 200, connect_timeout = 200 }, "sentinel")
        c.addr = format("redis %s (replica chosen for %s)", addr, self.name)
        c.on_drop = function(conn) conn:close() end  -- the next probe makes a new one
        if not pcall(c.connect, c) then
            c:close()
            return nil, nil, true
        end
    end
    local r = request.new("ROLE", { "ROLE", n = 1 }, 20)
    local ok, v = pcall(function()
        c:issue(r)
        return c:await(r)
    end)
    if not ok or c.state ~= "ready" then
        c:close()
        return nil, nil
    end
    return type(v) == "table" and not is_error(v) and v[1] or nil, c
end

-- Polls the chosen replica while the clients hold for the failover of `from`. It answers ROLE
-- master as soon as it has taken REPLICAOF NO ONE, so from then on nothing the old master takes
-- reaches it; the sentinels announce +switch-master only after their next INFO round of it (up to
-- a second later). Naming it master here, under a config epoch above the old one as
-- +switch-master does (a lagging sentinel cannot move the clients back), ends the hold at once.
-- Yields.
function group:promote_poll(addr, from)
    local c
    local function holding()
        local st = self.state
        return not self.stopped and self.promoting == addr and st.master == from and st.failover
    end
    while holding() do
        -- REPLICAOF NO ONE comes with CLIENT KILL TYPE normal, which drops this link: the probe
        -- connects again at once, and waits longer only after a failed connection.
        local role, refused
        role, c, refused = self:probe(c, addr)
        if role == "master" and holding() then
            self.quiet = 0
            self:board_event("promoted-replica-answered", addr)
            self:publish { master = addr, failover = false, err = false,
                epoch = math.max(self.state.epoch + 1, self.pending_epoch) }
            self:poll_soon()  -- the new configuration's epoch and replicas
            break
        end
        sleep(refused and PROMOTE_RETRY_CS or PROMOTE_POLL_CS)
    end
    if c then c:close() end
    if self.promoting == addr then self.promoting = nil end
end

-- Resolves now, or once more after the resolution that is running. Yields.
function group:resolve()
    if self.resolving then
        self.again = true
        return
    end
    self.resolving = true
    repeat
        self.again = false
        local ok, err = pcall(self.resolve_once, self)
        if not ok then skynet.error("sentinel watcher " .. self.name .. ": " .. tostring(err)) end
    until not self.again
    self.resolving = false
    if not self.resolved then
        self.resolved = true
        local list = self.first or {}
        self.first = nil
        for i = 1, #list do wakeup(list[i]) end
    end
end

function group:poll_soon()
    if self.poll_token then wakeup(self.poll_token) end
end

function group:poller()
    while not self.stopped do
        local token = {}
        self.poll_token = token
        sleep(self.state.failover and FAST_POLL_CS or self.poll_cs, token)
        self.poll_token = nil
        if not self.stopped then self:resolve() end
    end
end

-- No client uses the group any more: its links, subscriptions and poller end.
function group:stop()
    self.stopped = true
    self:board_remove()
    self:poll_soon()
    for _, w in pairs(self.watches) do w:disconnect() end
    for _, l in pairs(self.links) do
        if l.conn then l.conn:close() end
    end
    local list = self.waiters
    self.waiters = {}
    for i = 1, #list do wakeup(list[i]) end
end

events.install(group)
board.install(group)

function group:start()
    self.started = true
    for _, addr in ipairs(self.sentinels) do
        if self.nsubscribed < MAX_SUBSCRIBED then fork(self.subscriber, self, addr) end
    end
    fork(self.poller, self)
end

----------------------------------------------------------------------------------------------
-- The watcher

local watcher = {}
watcher.__index = watcher

function M.new()
    return setmetatable({ groups = {}, by_id = {}, last_id = 0 }, watcher)
end

local function key_of(spec)
    local list = { table.unpack(spec.sentinels) }
    table.sort(list)
    return concat({ spec.master, spec.sentinel_username or "", spec.sentinel_auth or "",
        concat(list, ",") }, "\0")
end

-- register(spec) -> id, state. spec: sentinels ({"host:port"...}), master, sentinel_auth,
-- sentinel_username, poll (ms). Returns once the group's first resolution is over (answered or
-- failed). Yields.
function watcher:register(spec)
    assert(type(spec.master) == "string" and type(spec.sentinels) == "table" and #spec.sentinels > 0,
        "sentinel watcher: register needs a master name and sentinels")
    local key = key_of(spec)
    local g = self.groups[key]
    if g and g.stopped then g = nil end
    -- Counted before anything yields: a client that registers while the first resolution runs
    -- joins the same group, and each is released once.
    if not g then
        self.last_id = self.last_id + 1
        g = new_group(self.last_id, spec)
        self.groups[key] = g
        self.by_id[g.id] = g
        g.refs = 1
        g:start()
        g:resolve()
    else
        g.refs = g.refs + 1
        if not g.resolved then
            local token = {}
            g.first = g.first or {}
            g.first[#g.first + 1] = token
            wait(token)
        end
    end
    return g.id, g.state
end

-- A client of the group is gone; the group stops LINGER_CS after its last one. Does not yield.
function watcher:release(id)
    local g = self.by_id[id]
    if not g or g.stopped then return end
    g.refs = g.refs - 1
    if g.refs > 0 then return end
    skynet.timeout(LINGER_CS, function()
        if g.refs > 0 or g.stopped then return end
        g:stop()
        self.by_id[id] = nil
        for key, x in pairs(self.groups) do
            if x == g then self.groups[key] = nil end
        end
    end)
end

-- The group's state once its version is above `version`; nil once the group has stopped.
-- Yields until then.
function watcher:next(id, version)
    local g = self.by_id[id]
    while g and not g.stopped and g.state.version <= version do
        local token = {}
        g.waiters[#g.waiters + 1] = token
        wait(token)
    end
    if g and not g.stopped then return g.state end
end

-- A client saw a sign that the topology changed (READONLY, a wrong ROLE, a dead master):
-- resolve again now. Does not yield.
function watcher:suspect(id)
    local g = self.by_id[id]
    if g then fork(g.resolve, g) end
end

-- The body of the sentinel_watcher service: register / next answer by call, suspect and
-- release come by send.
function M.serve()
    local w = M.new()
    skynet.start(function()
        skynet.dispatch("lua", function(_, _, cmd, ...)
            if cmd == "register" then
                skynet.retpack(w:register(...))
            elseif cmd == "next" then
                skynet.retpack(w:next(...))
            elseif cmd == "suspect" then
                w:suspect(...)
            elseif cmd == "release" then
                w:release(...)
            else
                error("sentinel watcher: unknown command " .. tostring(cmd))
            end
        end)
    end)
end

return M
