-- One Redis connection shared by many coroutines: the engine under skynet.db.redis.
--
-- The socket runs in framed mode (the RESP framer on the socket thread), so every frames event
-- carries whole replies. Requests wait in a FIFO and take replies in order; commands issued in
-- the same tick are appended to one codec buffer and written once at the end of the message
-- (automatic pipelining), or as soon as FLUSH_COMMANDS commands or FLUSH_BYTES bytes are
-- waiting: when one frames event wakes many coroutines, the first commands are already at the
-- server while the rest are being issued, instead of server and service taking turns.
--
-- Requests (skynet.db.redis.request describes their fields) are the wakeup tokens of the
-- coroutines waiting for them.
--
-- States: "down" (no socket; the reconnect loop runs unless closed), "handshake" (socket up,
-- AUTH/SELECT/CLIENT SETNAME in flight), "ready", "closed" (disconnect() was called; final).
-- Commands issued while not ready wait in the bounded backlog until the next handshake has
-- completed or their deadline passes; they have not been sent, so their failure is certain.
-- Commands in flight when the socket drops fail with a text that says they may or may not have
-- executed: they are never sent again. Connecting, the handshake, dropping a socket and the
-- reconnect loop are skynet.db.redis.reconnect's functions; the methods here call them.
--
-- Thread: the owning service (one Lua state); functions marked "yields" must run in a coroutine.
local skynet = require "skynet"
local codec = require "skyhive.redis.codec"
local transport = require "skynet.db.redis.transport"
local reconnect = require "skynet.db.redis.reconnect"
local instr = require "skynet.db.redis.instr"

local format, tunpack, tpack = string.format, table.unpack, table.pack
local type, getmetatable, setmetatable, tostring = type, getmetatable, setmetatable, tostring
local skynet_now, wait, wakeup, fork, hpc = skynet.now, skynet.wait, skynet.wakeup, skynet.fork,
    skynet.hpc
local decode, check_batch, check_command = codec.decode, codec.check_batch, codec.check_command
-- The hot path calls the buffers' and the metrics' methods as upvalues: buf:append(...) would
-- look append up through the buffer's metatable on every call (about 120 instructions).
local bufm = codec.buffer_methods
local buf_append, buf_full, buf_take = bufm.append, bufm.full, bufm.take
local metric = require("skynet.metrics").methods
local m_inc, m_dec, m_observe = metric.inc, metric.dec, metric.observe
local error_mt = codec.error_mt
local running = coroutine.running
local send = transport.send
local after_message = require("skynet.core").after_message
local weak_keys = { __mode = "k" }

local M = {}
local conn = {}
conn.__index = conn
-- issue() takes requests encoded ahead (request.wire: a pipeline builder's bytes).
conn.takes_wire = true

-- A tick's commands are written early once this many are waiting (opts.flush_commands; measured
-- with 50 coroutines on one connection: 16 gave ~1.4x the throughput of one write per tick; 8 and
-- 32 less), or this many bytes.
local FLUSH_COMMANDS = 16
local FLUSH_BYTES = 64 * 1024

local function ms_to_cs(ms)
    return (ms + 9) // 10
end

-- Options (all optional but host/port): auth, username, db, name, readonly (send READONLY in the
-- handshake: a Redis Cluster replica's reads), cluster_id (check CLUSTER MYID in the handshake),
-- timeout (ms; per command and for the backlog wait; false = none), connect_timeout (ms, first
-- connect and each reconnect attempt), queue_limit (commands waiting in the backlog),
-- backoff_min / backoff_max (ms), max_bulk / max_elements (RESP limits enforced by the framer),
-- flush_commands (a tick's commands are written early once this many are waiting; 16).
-- `role` labels the connection's metrics (standalone, master, replica, sentinel, pubsub,
-- cluster; default standalone), with its name (or "host:port") as the client.
function M.new(opts, role)
    local host = opts.host or "127.0.0.1"
    local port = opts.port or 6379
    local timeout = opts.timeout
    if timeout == nil then timeout = 5000 end
    local self = setmetatable({
        host = host,
        port = port,
        addr = format("redis %s:%d", host, port),
        auth = opts.auth,
        username = opts.username,
        db = opts.db,
        name = opts.name,
        readonly = opts.readonly,
        cluster_id = opts.cluster_id,
        timeout_ms = timeout or nil,
        timeout_cs = timeout and ms_to_cs(timeout) or nil,
        connect_timeout = opts.connect_timeout or 5000,
        queue_limit = opts.queue_limit or 10000,
        backoff_min = opts.backoff_min or 50,
        backoff_max = opts.backoff_max or 5000,
        limits = { max_bulk = opts.max_bulk, max_elements = opts.max_elements },
        state = "down",
        sock = nil,
        cause = "not connected yet",
        buf = codec.buffer(),
        flush_commands = opts.flush_commands or FLUSH_COMMANDS,
        flush_pending = false,
        -- in-flight FIFO
        q = {}, qhead = 1, qtail = 0,
        -- not yet sent (waiting for a connection)
        backlog = {}, bhead = 1, btail = 0,
        ticking = false,
        last_rx = 0,  -- skynet.now() of the last frames event
        scratch = {},
        on_ready = nil,  -- function(conn) run after each handshake (pub/sub restores here)
        on_push = nil,   -- function(conn, reply) for replies no request waits for (pub/sub)
        on_drop = nil,   -- function(conn, cause) after a drop, instead of reconnecting here
        -- WAIT's guard: gen counts handshakes; answered[co] is gen when coroutine co last got a
        -- reply here, so a WAIT can tell whether co's writes went on the current socket.
        gen = 0,
        answered = setmetatable({}, weak_keys),
        -- Metrics: the children of this client's label set; the write batch the next commands
        -- go out in (a table whose [1] becomes the hpc() time of that write: request field [3]);
        -- replies expected for what was written (the in-flight gauge's share of this
        -- connection); commands in the buffer that no request waits for (send_only).
        m = instr.client(instr.client_label(opts, host, port), role or "standalone"),
        wbatch = { false },
        outstanding = 0,
        untracked = 0,
    }, conn)
    self.flush_fn = function() return conn.flush(self) end  -- without self:flush's lookup
    -- How the write of a tick's commands is deferred. The default calls it once the current
    -- message and its forks are done, without a coroutine (write never yields). flush = "fork"
    -- (a coroutine at the end of the message) and "timeout" (skynet.timeout(0), a message of its
    -- own) are kept to measure against it.
    local how = opts.flush
    self.defer = how == "timeout" and function(f) return skynet.timeout(0, f) end
        or how == "fork" and fork or after_message
    self.tick_fn = function() return self:tick() end
    -- Deadlines are checked every tick_cs: a timeout fires up to a quarter late (at most 100 ms).
    local shortest = math.min(self.timeout_cs or math.huge, ms_to_cs(self.connect_timeout))
    self.tick_cs = math.max(1, math.min(10, shortest // 4))
    return self
end

----------------------------------------------------------------------------------------------
-- Replies

-- getmetatable alone: only error objects carry error_mt, and type() would cost a string lookup
-- per reply on the hot path.
local function is_error(v)
    return getmetatable(v) == error_mt
end
M.is_error = is_error

-- The error text of a failed request: "redis host:port: NAME: cause".
function conn:failure(name, cause)
    return format("%s: %s: %s", self.addr, name, cause)
end

-- Marks r done and wakes its waiter. A part of a Redis Cluster pipeline (r.parent) wakes the
-- pipeline's waiter instead, once its last part is done: one wakeup per pipeline. A request of
-- conn:reply waits with its coroutine as the token (r.co): the scheduler finds such a waiter
-- from its thread, where a table token costs an entry in the token table per wait.
local function finish(r)
    r.done = true
    local p = r.parent
    if p then
        local left = p.left - 1
        p.left = left
        if left > 0 then return end
        r = p
    end
    wakeup(r.co or r)
end
M.finish = finish

-- Fails every request in flight: the socket is gone and their fate on the server is unknown.
function conn:fail_inflight(cause)
    local q = self.q
    local text = cause .. "; the command may or may not have executed"
    local failed = 0
    for i = self.qhead, self.qtail do
        local r = q[i]
        q[i] = nil
        if not r.done then
            failed = failed + r[2] - (r.got or 0)
            r.err = self:failure(r[1], text)
            finish(r)
        end
    end
    self.qhead, self.qtail = 1, 0
    if failed > 0 then self.m.conn_errors:inc(failed) end
end

-- A frames event: `count` whole replies, encoded by the framer on the socket thread, taken in
-- arrival order.
function conn:on_frames(ptr, size, count)
    local q = self.q
    local head, tail = self.qhead, self.qtail
    local m = self.m
    local r = q[head]  -- nil when nothing is in flight
    local t, n, errors
    if r and (r.cmds or r.wire) and r[2] == count and not r.got and not r.out then
        -- The common case of a pipeline: the event holds exactly its replies, decoded straight
        -- into its list of replies, with no Lua work per reply.
        t, n, errors = decode(ptr, size, nil, count)
        if n == count then
            self.last_rx = skynet_now()
            q[head] = nil
            if head == tail then head, tail = 1, 0 else head = head + 1 end
            self.qhead, self.qtail = head, tail
            local sent = r[3]
            if sent then m_observe(m.duration, (hpc() - sent[1]) / 1e9) end
            if errors > 0 then m.reply_errors:inc(errors) end
            self.outstanding = self.outstanding - n
            m_dec(m.in_flight, n)
            if not r.done then
                r.value = t
                finish(r)
            end
            return
        end
        -- (not reached: the framer counts what it frames) the general path takes t as it is
    else
        -- t is scratch space: entries are cleared as they are used.
        t, n, errors = decode(ptr, size, self.scratch)
    end
    self.last_rx = skynet_now()
    local now, observe, pushes = hpc(), m.duration, 0
    for i = 1, n do
        local v = t[i]
        t[i] = nil
        if head > tail then
            pushes = pushes + 1
            if self.on_push then
                self.on_push(self, v)
            else
                self.qhead, self.qtail = head, tail
                self:drop("protocol error (a reply arrived that no command was waiting for)")
                return
            end
        else
            local r = q[head]
            local want = r[2]
            if want == 1 and not (r.cmds or r.wire) then
                q[head] = nil
                head = head + 1
                local sent = r[3]
                if sent then m_observe(observe, (now - sent[1]) / 1e9) end
                if not r.done then
                    r.value = v
                    finish(r)
                end
            else
                local got = (r.got or 0) + 1
                local out = r.out
                if out then
                    -- A part of a Redis Cluster pipeline: straight to its place in the
                    -- caller's list (cluster_pipeline.lua).
                    out[r.idx[got]] = v
                else
                    local list = r.value
                    if not list then
                        list = { n = want }
                        r.value = list
                    end
                    list[got] = v
                end
                r.got = got
                if got == want then
                    q[head] = nil
                    head = head + 1
                    local sent = r[3]
                    if sent then m_observe(observe, (now - sent[1]) / 1e9) end
                    if not r.done then finish(r) end
                end
            end
        end
    end
    if head > tail then head, tail = 1, 0 end
    self.qhead, self.qtail = head, tail
    if errors > 0 then m.reply_errors:inc(errors) end
    -- Pushes (pub/sub messages, replies of send_only) were never counted in flight.
    local answered = n - pushes
    if answered > 0 then
        self.outstanding = self.outstanding - answered
        m_dec(m.in_flight, answered)
    end
end

----------------------------------------------------------------------------------------------
-- Sending

-- Writes what the buffer holds (only while a socket is there: else it is dropped, and the
-- requests it carried fail with the connection). The requests of the write get its time.
local function write(self, buf)
    if not self.sock then
        -- Not taken: taken bytes are freed only by the send they are handed to.
        buf:reset()
        self.untracked = 0
        return
    end
    local ptr, sz, count = buf_take(buf)
    if ptr then
        send(self.sock, ptr, sz)
        local batch = self.wbatch
        batch[1] = hpc()
        self.wbatch = { false }  -- [1]: room for the write's time
        local m = self.m
        m_inc(m.commands, count)
        local tracked = count - self.untracked
        self.untracked = 0
        if tracked > 0 then
            self.outstanding = self.outstanding + tracked
            m_inc(m.in_flight, tracked)
        end
    else
        self.untracked = 0
    end
end

function conn:flush()
    self.flush_pending = false
    write(self, self.buf)
end

-- The connection's written commands will never be answered (the socket is gone): they leave
-- the in-flight gauge. Called by reconnect's drop and close.
function conn:forget_outstanding()
    local n = self.outstanding
    if n > 0 then
        self.outstanding = 0
        self.m.in_flight:dec(n)
    end
end

-- After commands were appended: writes them now when enough are waiting, else makes sure the
-- flusher runs at the end of the message. A flusher already scheduled then finds what came
-- after, or nothing.
local function schedule_flush(self)
    local buf = self.buf
    if buf_full(buf, self.flush_commands, FLUSH_BYTES) then
        write(self, buf)
    elseif not self.flush_pending then
        self.flush_pending = true
        self.defer(self.flush_fn)
    end
end

local function start_ticker(self)
    if self.ticking then return end
    self.ticking = true
    skynet.timeout(self.tick_cs, self.tick_fn)
end

local function push_inflight(self, r)
    r[3] = self.wbatch
    local tail = self.qtail + 1
    self.qtail = tail
    self.q[tail] = r
end

-- Returns nil when every argument of c ({name, arg1, ...}) can be encoded, else the cause
-- ("argument #2 is a boolean (string or number expected)", counting from the first argument
-- after the name). Batches are checked whole before any of it is appended.
local function bad_args(c)
    for i = 2, c.n or #c do
        local a = c[i]
        local t = type(a)
        if t == "table" then
            for j = 1, #a do
                local e = type(a[j])
                if e ~= "string" and e ~= "number" then
                    return format("argument #%d[%d] is a %s (string or number expected)", i - 1, j,
                        e)
                end
            end
        elseif t ~= "string" and t ~= "number" then
            return format("argument #%d is a %s (string or number expected)", i - 1, t)
        end
    end
end
M.bad_args = bad_args

local NOT_A_COMMAND = "a command is a table {name, args...}"

-- "#i NAME" for command i of a batch; "#i" when it has no name to show.
function M.describe(cmds, i)
    local c = cmds[i]
    local name = type(c) == "table" and c[1]
    if type(name) ~= "string" then return format("#%d", i) end
    return format("#%d %s", i, string.upper(name))
end

-- A refusal table (r.refusal) answers a command's name with false when the command is accepted,
-- why not when it is refused, nil for a name that is not one, or a function(cmd) -> why or nil
-- for a name refused only with some arguments (XREAD with BLOCK in a pipeline). The checks in C
-- stop at such a name as at a refused one; the batch's commands of those names are then checked
-- here (refused_by_args) and the batch checked or encoded again with the refusal's lenient twin,
-- which accepts those names. Only batches that carry such a name take that path.
local lenient_of = setmetatable({}, weak_keys)

local function lenient(refusal)
    local t = lenient_of[refusal]
    if not t then
        t = setmetatable({}, { __index = function(_, k)
            local why = refusal[k]
            if type(why) == "function" then return false end
            return why
        end })
        lenient_of[refusal] = t
    end
    return t
end

-- The first command of cmds that a function answer of `refusal` refuses: its index and why.
local function refused_by_args(cmds, refusal)
    for i = 1, #cmds do
        local c = cmds[i]
        if type(c) == "table" then
            local check = refusal[c[1]]
            if type(check) == "function" then
                local why = check(c)
                if why then return i, why end
            end
        end
    end
end

-- The first bad command of a batch: its index and the cause, or nil. A command must be a table;
-- given `refusal` (see lenient), it must be accepted; its arguments must be encodable.
-- format_batch's checks (check_batch, in C), for requests that wait before they are encoded;
-- the cause's text is found in Lua once one fails.
local function bad_batch(cmds, refusal)
    local i, why = check_batch(cmds, refusal)
    if i and type(why) == "function" then
        local j, because = refused_by_args(cmds, refusal)
        refusal = lenient(refusal)
        i = check_batch(cmds, refusal)
        if j and not (i and i < j) then return j, because end
    end
    if not i then return nil end
    local c = cmds[i]
    if type(c) ~= "table" then return i, NOT_A_COMMAND end
    if refusal then
        why = refusal[c[1]]
        if why ~= false then return i, why or NOT_A_COMMAND end
    end
    return i, bad_args(c) or "the command cannot be encoded"
end

-- For the routers (Sentinel, Cluster), which hold requests before any connection sees them:
-- raises "<addr>: <name>: [#i NAME: ]cause" when an argument of r cannot be encoded.
function M.check_request(addr, r)
    local why
    if r.cmds then
        local i
        i, why = bad_batch(r.cmds, r.refusal)
        if i then why = format("%s: %s", M.describe(r.cmds, i), why) end
    elseif r.args and not check_command(r.args) then
        why = bad_args(r.args) or "the command cannot be encoded"
    end
    if why then error(format("%s: %s: %s", addr, r[1], why), 0) end
end

-- For the routers that split a pipeline before any connection encodes it: raises, as
-- send_request would, when a command is not a table or its name is refused (r.refusal). Its
-- arguments are checked as it is split.
function M.check_names(addr, r)
    local refusal, cmds = r.refusal, r.cmds
    if not refusal then return end
    for i = 1, #cmds do
        local c = cmds[i]
        local why = type(c) ~= "table" and NOT_A_COMMAND or refusal[c[1]]
        if type(why) == "function" then why = why(c) or false end
        if why ~= false then
            error(format("%s: %s %s: %s", addr, r[1], M.describe(cmds, i), why or NOT_A_COMMAND),
                0)
        end
    end
end

local function batch_error(self, r, i, why)
    return format("%s: %s %s: %s", self.addr, r[1], M.describe(r.cmds, i),
        why or "the command cannot be encoded")
end

-- Appends the request's commands to the codec buffer and the FIFO. A command or batch with an
-- argument that cannot be encoded raises with nothing of it queued.
local function send_request(self, r)
    local buf = self.buf
    local cmds = r.cmds
    if r.wire then
        -- Checked as they were encoded (a pipeline builder's commands).
        if not buf:append_encoded(r.wire, r[2]) then
            error(self:failure(r[1], "the pipeline is too large to send"), 0)
        end
    elseif cmds then
        -- All or nothing: on a bad command the buffer is left as it was. A refused name comes
        -- with its reason; other causes are found again here, off the fast path.
        local refusal = r.refusal
        local bad, why = buf:format_batch(cmds, refusal)
        if bad and type(why) == "function" then
            bad, why = bad_batch(cmds, refusal)
            if not bad then bad = buf:format_batch(cmds, lenient(refusal)) end
        end
        if bad then
            if not why then
                local _
                _, why = bad_batch({ cmds[bad] }, refusal)
            end
            error(batch_error(self, r, bad, why), 0)
        end
    else
        local a = r.args
        if not pcall(buf.format, buf, tunpack(a, 1, a.n)) then
            error(self:failure(r[1], bad_args(a) or "the command cannot be encoded"), 0)
        end
        r.args = nil
    end
    push_inflight(self, r)
    schedule_flush(self)
end

-- Sends the request at once whatever the state, ahead of the backlog (the handshake does), with
-- its deadline set. Raises on bad arguments with nothing of it queued.
function conn:issue_now(r)
    local cs = r.timeout_cs
    if cs == nil then cs = self.timeout_cs end
    if cs then
        r.deadline = skynet_now() + cs
        start_ticker(self)
    end
    return send_request(self, r)
end

-- Sends a command whose replies no request waits for (they go to on_push). Only while ready;
-- nothing is kept for a reconnect (on_ready restores what must be). Raises on bad arguments.
function conn:send_only(...)
    if self.state ~= "ready" then return end
    self.buf:format(...)
    self.untracked = self.untracked + 1
    schedule_flush(self)
end

-- Issues a request (skynet.db.redis.request); its commands are in r.args (one command) or
-- r.cmds (a batch). Returns at once; the caller then waits with conn:await(r). Raises when the
-- backlog is full or the connection is closed.
function conn:issue(r)
    -- r.timeout_cs: nil = the connection's timeout, false = none (blocking commands that wait
    -- forever).
    local deadline = r.timeout_cs
    if deadline == nil then deadline = self.timeout_cs end
    if deadline then
        r.deadline = skynet_now() + deadline
        start_ticker(self)
    end
    local state = self.state
    if state == "ready" then
        return send_request(self, r)
    elseif state == "closed" then
        self.m.conn_errors:inc(r[2])
        error(self:failure(r[1], "the client was closed"), 0)
    end
    -- Checked now: the caller must hear of a bad argument before the command waits.
    if r.cmds then
        local i, why = bad_batch(r.cmds, r.refusal)
        if i then error(batch_error(self, r, i, why), 0) end
    elseif r.args and not check_command(r.args) then
        error(self:failure(r[1], bad_args(r.args) or "the command cannot be encoded"), 0)
    end
    if self.btail - self.bhead + 1 >= self.queue_limit then
        self.m.conn_errors:inc(r[2])
        error(self:failure(r[1], format("not connected (%s) and %d commands are already waiting",
            self.cause, self.queue_limit)), 0)
    end
    local tail = self.btail + 1
    self.btail = tail
    self.backlog[tail] = r
end

-- Waits for a request issued with issue(); returns its value (a list for batches) or raises its
-- error. Error replies are returned as error objects; the caller decides. Yields.
function conn:await(r)
    if not r.done then wait(r) end
    local err = r.err
    if err then error(err, 0) end
    self.answered[running()] = self.gen
    return r.value
end

-- One command: issue, wait, and return its reply, an error reply included (as an error object:
-- the caller decides). Raises when it cannot be encoded, on a timeout or a lost connection.
-- Yields. The hot path of the client: while connected the command is encoded at once, without
-- keeping its arguments.
function conn:reply(name, ...)
    -- request.new's one-command layout, built here because the arguments are not kept (with
    -- room for the fields it takes, as there). Its waiter is its coroutine (finish); the request
    -- never leaves this function and the connection, so nothing else wakes it by the table.
    local co = running()
    local r = { name, 1, self.wbatch, deadline = nil, done = nil, value = nil, co = co }
    if self.state == "ready" then
        -- Words that are all strings and numbers need no pcall (append never raises); lists to
        -- splice and bad words take format's path.
        local buf = self.buf
        if not buf_append(buf, ...) and not pcall(buf.format, buf, ...) then
            error(self:failure(name, bad_args(tpack(...)) or "the command cannot be encoded"), 0)
        end
        local cs = self.timeout_cs
        if cs then
            r.deadline = skynet_now() + cs
            if not self.ticking then start_ticker(self) end
        end
        local tail = self.qtail + 1
        self.qtail = tail
        self.q[tail] = r
        schedule_flush(self)
    else
        r.args = tpack(...)
        self:issue(r)
    end
    -- Woken by finish. A wakeup(co) of someone else's (the coroutine is a token others may hold)
    -- that lands here is dropped, as one for a token nobody waits on is.
    while not r.done do wait() end
    local err = r.err
    if err then error(err, 0) end
    self.answered[co] = self.gen
    return r.value
end

-- One command, as reply(), with a server error raised naming the server and the command. Yields.
function conn:call(name, ...)
    local v = conn.reply(self, name, ...)  -- found in conn at once, where self:reply misses first
    if getmetatable(v) == error_mt then
        error(format("%s: %s: %s", self.addr, name, v.err), 0)
    end
    return v
end

----------------------------------------------------------------------------------------------
-- Deadlines

-- Runs every tick_cs while requests are pending: fails those whose deadline has passed, in issue
-- order (deadlines grow with issue order on a connection whose commands share one timeout).
function conn:tick()
    self.ticking = false
    local now = skynet_now()
    local pending = false
    -- The backlog: nothing was sent, so failed entries simply leave it.
    local b = self.backlog
    local bh, bt = self.bhead, self.btail
    while bh <= bt do
        local r = b[bh]
        if r.done then
            b[bh] = nil
            bh = bh + 1
        elseif r.deadline and r.deadline <= now then
            b[bh] = nil
            bh = bh + 1
            r.err = self:failure(r[1], format("not connected (%s); gave up after %d ms",
                self.cause, (r.timeout_cs or self.timeout_cs) * 10))
            self.m.conn_errors:inc(r[2])
            finish(r)
        else
            break
        end
    end
    if bh > bt then bh, bt = 1, 0 end
    self.bhead, self.btail = bh, bt
    if bh <= bt then pending = true end
    -- In flight: a timed-out request keeps its place, so the reply that may still come is
    -- matched to it and dropped. But when nothing at all has arrived since it was sent, the
    -- server is stalled (or the path to it is): the connection is dropped and made again.
    local q = self.q
    local stalled
    for i = self.qhead, self.qtail do
        local r = q[i]
        if not r.done then
            if r.deadline and r.deadline <= now then
                local cs = r.timeout_cs or self.timeout_cs
                r.err = self:failure(r[1], format(
                    "no reply within %d ms; the command may or may not have executed", cs * 10))
                self.m.timeouts:inc(r[2] - (r.got or 0))
                finish(r)
                if self.last_rx < r.deadline - cs then stalled = cs end
            else
                pending = true
                break
            end
        end
    end
    if stalled and self.sock then
        self:drop(format("no reply within %d ms; connection dropped", stalled * 10))
    end
    if pending and self.state ~= "closed" then start_ticker(self) end
end

----------------------------------------------------------------------------------------------
-- Life cycle (the work is skynet.db.redis.reconnect's)

-- Moves the backlog into the buffer and the FIFO, in issue order (after a handshake).
function conn:release_backlog()
    local b = self.backlog
    for i = self.bhead, self.btail do
        local r = b[i]
        b[i] = nil
        if not r.done then
            local ok, err = pcall(send_request, self, r)
            if not ok then
                r.err = err
                finish(r)
            end
        end
    end
    self.bhead, self.btail = 1, 0
end

-- Fails every request of the backlog with `cause` (they were never sent).
function conn:fail_backlog(cause)
    local b = self.backlog
    for i = self.bhead, self.btail do
        local r = b[i]
        b[i] = nil
        if not r.done then
            r.err = self:failure(r[1], cause)
            self.m.conn_errors:inc(r[2])
            finish(r)
        end
    end
    self.bhead, self.btail = 1, 0
end

-- Connects for the first time; raises the failure (nothing retries it). Yields.
function conn:connect()
    return reconnect.first(self)
end

-- The socket is gone (or must go): fails what is in flight, then on_drop runs if set, else
-- (unless closed) the connection reconnects in the background. `cause` says why, without the
-- server's name.
function conn:drop(cause)
    return reconnect.drop(self, cause)
end

-- Called by the transport when the socket ends on its own (peer close, error, malformed RESP).
function conn:on_close(text)
    if not self.sock then return end
    self.sock = nil
    self:drop("connection lost (" .. text .. ")")
end

-- Closes for good: the backlog and the requests in flight fail. Does not yield.
function conn:close()
    return reconnect.close(self)
end

return M
