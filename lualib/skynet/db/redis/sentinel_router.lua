-- The connection of a Sentinel client: it has the interface of connection.lua's (issue, await,
-- call, close, addr) so that every method of skynet.db.redis works on it unchanged, and routes
-- each request to a connection to the current master (or a replica), made again whenever the
-- topology changes.
--
-- States: "ready" (a connection whose ROLE was checked is installed), "down" (none: requests
-- are held), "closed" (final). While the watcher reports a failover in progress (from the
-- leader's +selected-slave until the chosen replica answers ROLE as master) the router is
-- frozen: requests are held even with a connection, so that nothing is acknowledged by a
-- master whose successor no longer replicates from it; the requests in flight finish where they
-- are, followed by a WAIT that confirms they reached the replicas (router:confirm).
--
-- Invariants:
--   * a request is sent at most once unless it provably did not execute: the reply was a
--     topology error (READONLY, LOADING, MASTERDOWN, NOREPLICAS, also inside a script error, or
--     a MULTI/EXEC aborted by one), or the caller marked it safe to retry (r.safe);
--   * a request table goes to a connection once: what is sent again is a new request with its
--     commands (a timed-out one stays in its connection's FIFO to take its late replies);
--   * held requests have not been sent; they leave the hold in issue order when a verified
--     connection is installed and no failover runs, or fail when hold_timeout passes;
--   * `cur`, when set, is a ready connection to the address the last state names.
--
-- Thread: the owning service; await and call yield.
local skynet = require "skynet"
local connection = require "skynet.db.redis.connection"
local request = require "skynet.db.redis.request"
local instr = require "skynet.db.redis.instr"

local format, tpack, tostring, type, random = string.format, table.pack, tostring, type, math.random
local now, fork, wait, wakeup, timeout = skynet.now, skynet.fork, skynet.wait, skynet.wakeup,
    skynet.timeout
local is_error = connection.is_error
local running = coroutine.running

local M = {}
local router = {}
router.__index = router
-- issue() takes requests encoded ahead (request.wire), as a connection does: it holds and
-- sends them again whole.
router.takes_wire = true

local TOPOLOGY = { "READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS" }
local CONFIRM_MS = 100  -- how long the WAIT at the start of a failover's hold may take

-- The topology error code an error text carries (also inside a script's error), or nil.
local function topology_code(text, role)
    for i = 1, #TOPOLOGY do
        local code = TOPOLOGY[i]
        if not (code == "READONLY" and role == "replica") then
            if text:sub(1, #code + 1) == code .. " " or text:find("-" .. code .. " ", 1, true) or
                text:find(": " .. code .. " ", 1, true) then
                return code
            end
        end
    end
end
M.topology_code = topology_code

-- opts: the client's options (see skynet.db.redis.sentinel). `link` talks to the watcher:
-- link.suspect(why) asks for a resolution now.
function M.new(opts, link)
    local timeout_ms = opts.timeout
    if timeout_ms == nil then timeout_ms = 5000 end
    local self = setmetatable({
        name = opts.master,
        role = opts.role == "replica" and "replica" or "master",
        link = link,
        conn_opts = {
            auth = opts.auth, username = opts.username, db = opts.db, name = opts.name,
            timeout = timeout_ms, connect_timeout = opts.connect_timeout or 1000,
            max_bulk = opts.max_bulk, max_elements = opts.max_elements,
            queue_limit = opts.queue_limit,
        },
        timeout_cs = timeout_ms and (timeout_ms + 9) // 10 or nil,
        role_cs = ((opts.role_timeout or 1000) + 9) // 10,
        hold_cs = ((opts.hold_timeout or 10000) + 9) // 10,
        hold_limit = opts.hold_limit or 10000,
        backoff_min = opts.backoff_min or 20,
        backoff_max = opts.backoff_max or 1000,
        state = "down",
        cause = "not connected yet",
        addr = format("redis sentinel %s", opts.master),
        cur = nil,
        fstate = nil,        -- the last watcher state
        frozen = false,
        held = {},
        ticking = false,
        trying = {},         -- target -> true while an attempt runs
        failures = 0,
        retry_pending = false,
        bad = {},            -- replica target -> now() of its last failure
        replica_choice = nil,
        last_suspect = -1000,
        refused_at = {},     -- target -> now() of its last topology refusal
        on_switch = {},      -- functions(router) run after each new connection is installed
        stats = { switches = 0, connects = {}, topology_errors = 0, retried = 0, held_peak = 0,
            freezes = 0 },
        -- skyhive_sentinel_write_hold_seconds_total: a master client holds commands from its
        -- first connection on whenever it has no verified master or a failover runs.
        hold_counter = instr.sentinel(opts.master).hold,
        ever_ready = false,
        hold_since = nil,    -- skynet.hpc() when the current hold began
    }, router)
    self.tick_fn = function() return self:tick() end
    return self
end

----------------------------------------------------------------------------------------------
-- Following the watcher

-- Starts or ends the hold time of a master client after a change of state.
local function update_hold(self)
    if self.role ~= "master" then return end
    local holding = self.ever_ready and self.state ~= "closed" and (self.cur == nil or self.frozen)
    if holding then
        if not self.hold_since then self.hold_since = skynet.hpc() end
    elseif self.hold_since then
        self.hold_counter:inc((skynet.hpc() - self.hold_since) / 1e9)
        self.hold_since = nil
    end
end

-- The address to connect to under the current state, or nil.
function router:pick()
    local st = self.fstate
    if not st then return nil end
    if self.role == "master" then return st.master end
    local list = st.replicas or {}
    local choice = self.replica_choice
    for i = 1, #list do
        if list[i] == choice and not self.bad[choice] then return choice end
    end
    local fresh = {}
    local t = now()
    for i = 1, #list do
        local b = self.bad[list[i]]
        if not b or t - b > 500 then fresh[#fresh + 1] = list[i] end
    end
    if #fresh == 0 then fresh = list end
    if #fresh == 0 then return nil end
    choice = fresh[random(1, #fresh)]
    self.replica_choice = choice
    return choice
end

function router:on_state(st)
    self.fstate = st
    local frozen = st.failover and self.role == "master"
    if frozen and not self.frozen then
        self.frozen = true
        self.stats.freezes = self.stats.freezes + 1
        self:start_ticker()
        if self.cur then fork(self.confirm, self, self.cur, #(st.replicas or {})) end
    end
    local cur = self.cur
    if cur and cur.target ~= self:pick() then
        self:retire(cur, format("the master moved to %s", tostring(st.master)))
    end
    if not frozen and self.frozen then
        self.frozen = false
        if self.cur then self:release() end
    end
    update_hold(self)
    self:kick()
end

-- The hold began on c: a WAIT behind every write c carried tells whether what the old master
-- acknowledged reached its replicas before the chosen one is detached (about 100 ms after the
-- hold starts). It cannot take an acknowledgement back; its answer is kept in the stats
-- (confirmed, of wanted) and a shortfall is logged. Yields.
function router:confirm(c, wanted)
    if wanted == 0 then return end
    local r = request.new("WAIT", tpack("WAIT", wanted, CONFIRM_MS), CONFIRM_MS // 10 + 10)
    local ok, v = pcall(function()
        c:issue(r)
        return c:await(r)
    end)
    local stats = self.stats
    stats.confirm_wanted = wanted
    stats.confirmed = (ok and math.type(v) == "integer") and v or 0
    if stats.confirmed < wanted then
        skynet.error(format("%s: at the failover's hold, %d of %d replicas had the writes acknowledged before it (WAIT: %s)",
            c.addr, stats.confirmed, wanted, ok and tostring(is_error(v) and v.err or v) or tostring(v)))
    end
end

-- Asks the watcher to resolve again, at most every 20 cs per client.
function router:suspect_topology(why)
    local t = now()
    if t - self.last_suspect < 20 then return end
    self.last_suspect = t
    self.link.suspect(why)
end

----------------------------------------------------------------------------------------------
-- Connections

-- Connects to target and checks its ROLE; returns the connection or nil and why. Yields.
local function try(self, target)
    local host, port = target:match("^(.*):(%d+)$")
    local o = {}
    for k, v in pairs(self.conn_opts) do o[k] = v end
    o.host, o.port = host, tonumber(port)
    local c = connection.new(o, self.role)
    c.addr = format("redis %s (%s %s)", target, self.role, self.name)
    local ok, err = pcall(c.connect, c)
    if not ok then return nil, err end
    local r = request.new("ROLE", tpack("ROLE"), self.role_cs)
    local got, v = pcall(function()
        c:issue(r)
        return c:await(r)
    end)
    if not got then
        c:close()
        return nil, v
    end
    if is_error(v) then
        c:close()
        return nil, format("%s: ROLE: %s", c.addr, v.err)
    end
    local role = type(v) == "table" and v[1]
    local want = self.role == "master" and "master" or "slave"
    if role ~= want then
        c:close()
        return nil, format("%s: ROLE is %s, not %s", c.addr, tostring(role), want)
    end
    if role == "slave" and v[4] ~= "connected" then
        c:close()
        return nil, format("%s: replica not in sync with its master (%s)", c.addr, tostring(v[4]))
    end
    if c.state ~= "ready" then  -- it broke right after answering
        local cause = c.cause
        c:close()
        return nil, format("%s: %s", c.addr, tostring(cause))
    end
    c.target = target
    return c
end

function router:retry_later()
    if self.retry_pending or self.state == "closed" then return end
    self.retry_pending = true
    local d = math.min(self.backoff_max, self.backoff_min * (1 << math.min(self.failures, 16)))
    local ms = d // 2 + random(0, d - d // 2)
    timeout(math.max(1, ms // 10), function()
        self.retry_pending = false
        self:kick()
    end)
end

-- Starts an attempt on the current target unless one runs or a connection is installed. An
-- attempt on a target the state has moved away from does not hold up the new one.
function router:kick()
    if self.state == "closed" or self.cur then return end
    local target = self:pick()
    if not target then
        local st = self.fstate
        self.cause = st and st.err or "no address from the sentinels yet"
        return
    end
    if self.trying[target] then return end
    self.trying[target] = true
    fork(function()
        local c, err = try(self, target)
        self.trying[target] = nil
        if c then
            if self.state ~= "closed" and not self.cur and self:pick() == target then
                return self:install(c)
            end
            c:close()
            return self:kick()
        end
        if self.state == "closed" then return end
        self.cause = err
        self.failures = self.failures + 1
        if self.role == "replica" then self.bad[target] = now() end
        self:suspect_topology(err)
        self:retry_later()
    end)
end

-- The connection becomes the current one: its losses come back here.
function router:install(c)
    local r = self
    c.on_drop = function(conn, cause)
        -- The router reconnects (maybe elsewhere): the connection's own retries never start.
        conn:close()
        r:lost(conn, cause)
    end
    self.cur = c
    self.state = "ready"
    self.cause = nil
    self.addr = c.addr
    self.ever_ready = true
    update_hold(self)
    -- A master that keeps refusing (NOREPLICAS) is not retried at full speed.
    if now() - (self.refused_at[c.target] or -1000) > 100 then self.failures = 0 end
    self.bad[c.target] = nil
    local stats = self.stats
    stats.switches = stats.switches + 1
    stats.connects[#stats.connects + 1] = { target = c.target, at = now() }
    if #stats.connects > 64 then table.remove(stats.connects, 1) end
    if not self.frozen then self:release() end
    for _, f in ipairs(self.on_switch) do fork(f, self, c) end
end

-- The current connection broke (or was dropped for a stall).
function router:lost(c, cause)
    if c ~= self.cur then return end
    self.cur = nil
    if self.state ~= "closed" then self.state = "down" end
    self.cause = cause
    update_hold(self)
    self:suspect_topology(cause)
    self:kick()
end

-- Stops sending on c; new requests wait for the next connection. The requests in flight finish
-- where they are (a demoted master answers them READONLY, and they are sent again; a stopped
-- one lets them time out), then c is closed.
function router:retire(c, why)
    if c == self.cur then
        self.cur = nil
        self.state = "down"
        self.cause = why
        update_hold(self)
    end
    if c.state == "closed" then return end
    if c.qhead > c.qtail then return c:close() end
    fork(function()
        while c.state ~= "closed" and c.qhead <= c.qtail do skynet.sleep(1) end
        if c.state ~= "closed" then c:close() end
    end)
end

----------------------------------------------------------------------------------------------
-- Holding

function router:start_ticker()
    if self.ticking then return end
    self.ticking = true
    timeout(10, self.tick_fn)
end

function router:why_held()
    if self.frozen then
        return format("failover of %s in progress", tostring(self.fstate and self.fstate.master))
    end
    return self.cause or "no connection"
end

function router:tick()
    self.ticking = false
    local t = now()
    local keep = {}
    for _, r in ipairs(self.held) do
        if not r.done then
            if r.hold_deadline <= t then
                r.err = format("%s: %s: no %s available (%s); gave up after %d ms, the command was not sent",
                    self.addr, r[1], self.role, self:why_held(), self.hold_cs * 10)
                r.done = true
                wakeup(r)
            else
                keep[#keep + 1] = r
            end
        end
    end
    self.held = keep
    if #keep > 0 or self.frozen then self:start_ticker() end
end

local function send(self, c, r)
    r.via = c
    r.keep = r.args  -- the connection forgets the arguments once encoded; a retry needs them
    return c:issue(r)
end

-- Sends the held requests in order on the current connection.
function router:release()
    local list = self.held
    self.held = {}
    local c = self.cur
    for i = 1, #list do
        local r = list[i]
        if not r.done then
            r.held = false
            local ok, err = pcall(send, self, c, r)
            if not ok then
                r.err, r.done = err, true
                wakeup(r)
            end
        end
    end
end

----------------------------------------------------------------------------------------------
-- The connection interface

-- Same contract as connection.lua's issue; a request may also carry safe = true.
function router:issue(r)
    if self.state == "closed" then
        error(format("%s: %s: the client was closed", self.addr, r[1]), 0)
    end
    r.hold_deadline = r.hold_deadline or now() + self.hold_cs
    local c = self.cur
    if c and not self.frozen then return send(self, c, r) end
    connection.check_request(self.addr, r)
    if #self.held >= self.hold_limit then
        error(format("%s: %s: no %s available (%s) and %d commands are already waiting", self.addr,
            r[1], self.role, self:why_held(), self.hold_limit), 0)
    end
    r.held = true
    local held = self.held
    held[#held + 1] = r
    if #held > self.stats.held_peak then self.stats.held_peak = #held end
    self:start_ticker()
end

-- True when the reply shows the request did not execute because of the topology.
function router:refused(r, v)
    local role = self.role
    if not (r.cmds or r.wire) then
        return is_error(v) and topology_code(v.err, role) and true or false
    end
    if type(v) ~= "table" then return false end
    local any, all = false, true
    for i = 1, v.n or #v do
        local x = v[i]
        if is_error(x) then
            if topology_code(x.err, role) then any = true end
        else
            all = false
        end
    end
    -- A MULTI/EXEC whose EXEC failed ran nothing; a pipeline only when nothing succeeded.
    local n = v.n or #v
    return any and (all or (r[1] == "MULTI/EXEC" and is_error(v[n])))
end

-- The request to send again in place of r: a new table with r's commands. r itself may still
-- sit in the FIFO of the connection it went on (a timed-out request keeps its place there, so
-- that its late replies are dropped); issued again, it would take those replies, and a batch
-- would never be complete again and swallow every later reply.
local function again_request(r)
    return { r[1], r[2], nil, args = r.keep, cmds = r.cmds, wire = r.wire,
        timeout_cs = r.timeout_cs, refusal = r.refusal, safe = r.safe,
        hold_deadline = r.hold_deadline, deadline = nil, done = nil, value = nil, via = nil,
        keep = nil, held = nil }
end

-- A reply came on r.via: noted there for WAIT's guard (connection.lua's answered).
local function answered(r)
    local c = r.via
    if c then c.answered[running()] = c.gen end
    return r.value
end

-- Waits for the request; a request refused for the topology, or marked safe and failed in
-- flight on a connection the client has left since (it broke, was dropped as stalled, or the
-- master moved), is sent again, as a new request, to the next master within its hold deadline.
-- A safe request that timed out on the connection still in use is not: a copy would only queue
-- behind it on the same server. Yields.
function router:await(r)
    while true do
        if not r.done then wait(r) end
        local err = r.err
        local again = false
        if err then
            again = r.safe and r.via and r.via ~= self.cur and now() < r.hold_deadline and
                err:find("may or may not have executed", 1, true)
            if not again then error(err, 0) end
        elseif self:refused(r, r.value) then
            self.stats.topology_errors = self.stats.topology_errors + 1
            local c = r.via
            if c == self.cur then
                self.refused_at[c.target] = now()
                self:retire(c, "topology changed: " .. tostring(is_error(r.value) and r.value.err or "refused"))
                self:suspect_topology("topology error")
                self.failures = self.failures + 1
                self:retry_later()
            end
            again = now() < r.hold_deadline
            if not again then return answered(r) end
        else
            return answered(r)
        end
        self.stats.retried = self.stats.retried + 1
        r = again_request(r)
        self:issue(r)
    end
end

-- One command (name, then the command's words); raises error replies naming the server.
-- While a connection is installed the command takes the connection's own path, which keeps no
-- copy of the arguments: they are still in this frame if a topology error asks for a resend.
function router:call(name, ...)
    local c = self.cur
    if c and not self.frozen then
        local ok, v = pcall(c.call, c, name, ...)
        if ok then return v end
        local prefix = c.addr .. ": " .. name .. ": "
        if v:sub(1, #prefix) ~= prefix or not topology_code(v:sub(#prefix + 1), self.role) then
            error(v, 0)
        end
        -- Refused for the topology: it did not run. Stop using c and send it again.
        self.stats.topology_errors = self.stats.topology_errors + 1
        self.stats.retried = self.stats.retried + 1
        if c == self.cur then
            self.refused_at[c.target] = now()
            self:retire(c, "topology changed: " .. v:sub(#prefix + 1))
            self:suspect_topology("topology error")
            self.failures = self.failures + 1
            self:retry_later()
        end
    end
    local r = request.new(name, tpack(...))
    self:issue(r)
    local v = self:await(r)
    if is_error(v) then error(format("%s: %s: %s", self.addr, name, v.err), 0) end
    return v
end

-- Closes for good: held requests and those in flight fail. Does not yield.
function router:close()
    if self.state == "closed" then return end
    self.state = "closed"
    self.cause = "the client was closed"
    update_hold(self)
    local c = self.cur
    self.cur = nil
    if c then c:close() end
    local list = self.held
    self.held = {}
    for i = 1, #list do
        local r = list[i]
        if not r.done then
            r.err, r.done = format("%s: %s: the client was closed", self.addr, r[1]), true
            wakeup(r)
        end
    end
    if self.on_close then self.on_close(self) end
end

return M
