-- skynet.db.redis: a non-blocking Redis client for Lua services (docs/lua-api.md, "Redis").
--
--   local redis = require "skynet.db.redis"
--   local db = redis.connect { host = "127.0.0.1", port = 6379, auth = "pw", db = 1 }
--   db:set("k", "v"); local v = db:get("k")            -- any command by name, lower or upper
--   db:command("CLIENT", "INFO")                       -- any command, spelled out
--   db:pipeline({ { "set", "a", 1 }, { "incr", "a" } }, results)   -- skynet's shapes
--   db:exists("k") -> boolean (skynet's); redis.connect{..., replies = "raw"} -> Redis's integers
--   db:pipeline({ { "set", "k", "v" }, { "wait", 1, 500 } })   -- WAIT bound to that write
--   local p = db:pipeline(); p:set("a", 1); p:incr("a"); p:execute(results)  -- built, no tables
--   db:transaction(function(tx) tx:incr("a"); tx:get("a") end)
--   local s = redis.script "return redis.call('GET', KEYS[1])"; s(db, 1, "k")
--   local w = redis.watch { host = ..., port = ... }; w:subscribe "ch"; w:message()
--
-- One client is one connection shared by every coroutine of the service: each command yields
-- until its reply arrives; commands issued in the same tick leave together (in one write, or
-- in writes of 16 when many coroutines issue at once; a pipeline or transaction is never split
-- across writes). Blocking
-- commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, XREAD/XREADGROUP
-- with BLOCK) run on a small pool of extra connections of the same client, one command per
-- connection at a time, so they never hold up the shared one; a pipeline, which would send them
-- there, refuses them. WAIT and WAITAOF go on the shared connection, behind the writes they are
-- about (see wait_call). Commands that would break the shared connection's reply order or change
-- it for every coroutine are refused (see refused).
--
-- Every function that talks to the server yields (runs in a coroutine of the service).
-- Thread: the owning service.
local skynet = require "skynet"
local connection = require "skynet.db.redis.connection"
local crypt = require "skynet.crypt"
local request = require "skynet.db.redis.request"
local codec = require "skyhive.redis.codec"

local format, upper, lower, tpack, tunpack = string.format, string.upper, string.lower, table.pack,
    table.unpack
local type, select, setmetatable, error, tostring = type, select, setmetatable, error, tostring
local wait, wakeup = skynet.wait, skynet.wakeup
local is_error, bad_args = connection.is_error, connection.bad_args

local redis = {}

local client = {}
local client_meta = {}

----------------------------------------------------------------------------------------------
-- Blocking commands: a pool of dedicated connections

-- name -> function(...) returning the command's own wait in seconds (0 = forever), nil when the
-- arguments do not make it block.
local blocking = {}
local function last_arg(...)
    return tonumber((select(select("#", ...), ...))) or 0
end
local function first_arg(...)
    return tonumber((...)) or 0
end
for _, name in ipairs { "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BZPOPMIN", "BZPOPMAX" } do
    blocking[name] = last_arg
end
blocking.BLMPOP = first_arg
blocking.BZMPOP = first_arg

-- The words of a command as they are sent: list arguments spliced.
local function spliced(...)
    local args = tpack(...)
    local out, n = {}, 0
    for i = 1, args.n do
        local a = args[i]
        if type(a) == "table" then
            for j = 1, #a do
                n = n + 1
                out[n] = a[j]
            end
        else
            n = n + 1
            out[n] = a
        end
    end
    out.n = n
    return out, n
end
local function block_option(...)
    local w, n = spliced(...)
    for i = 1, n - 1 do
        local a = w[i]
        if type(a) == "string" and upper(a) == "BLOCK" then
            return (tonumber(w[i + 1]) or 0) / 1000
        end
    end
end
blocking.XREAD = block_option
blocking.XREADGROUP = block_option

local function release(self, c)
    local pool = self.pool
    pool.busy[c] = nil
    if self.closed or c.state == "closed" then
        pool.count = pool.count - 1
        c:close()
        return
    end
    local token = table.remove(pool.waiters, 1)
    if token then
        token.conn = c
        wakeup(token)
    else
        pool.idle[#pool.idle + 1] = c
    end
end

-- What a blocking command holds of the pool (lease fields: client; conn, once it has one;
-- connecting, while conn makes its first connection; token, while it waits for one; req, once
-- its command was sent), given back when blocking_call's frame ends. Also when its coroutine is
-- killed while it waits (skynet.killthread closes its to-be-closed variables): otherwise the
-- connection, or its place in the queue, would be gone for good.
local lease_meta = { __close = function(l)
    local self, c = l.client, l.conn
    local token = l.token
    if token then
        local waiters = self.pool.waiters
        for i = 1, #waiters do
            if waiters[i] == token then
                table.remove(waiters, i)
                break
            end
        end
        c = token.conn  -- handed to it before it could run
    end
    if not c then return end
    -- Its command may still wait on the server: the connection is closed, which ends it there,
    -- rather than reused behind it.
    if l.connecting or (l.req and not l.req.done) then c:close() end
    release(self, c)
end }

-- A pooled connection for lease l: an idle one, a new one while the pool has room, else the
-- next one given back. Yields.
local function acquire(self, l)
    local pool = self.pool
    local c = pool.idle[#pool.idle]
    if c then
        pool.idle[#pool.idle] = nil
    elseif pool.count < pool.limit then
        pool.count = pool.count + 1
        c = connection.new(self.opts)
        l.conn, l.connecting = c, true
        local ok, err = pcall(c.connect, c)
        l.connecting = false
        if not ok then
            l.conn = nil
            pool.count = pool.count - 1
            error(err, 0)
        end
    else
        local token = {}
        l.token = token
        pool.waiters[#pool.waiters + 1] = token
        wait(token)
        l.token = nil
        c = token.conn
        if not c then error(self.conn.addr .. ": the client was closed", 0) end
    end
    l.conn = c
    pool.busy[c] = true
    return c
end

local function blocking_call(self, name, seconds, ...)
    local router = self.conn
    if router.blocking then
        -- A cluster: a connection to the node that serves the keys.
        local cs = false
        if seconds > 0 and router.timeout_cs then
            cs = math.ceil(seconds * 100) + router.timeout_cs
        end
        return router:blocking(name, cs, ...)
    end
    local lease <close> = setmetatable({ client = self }, lease_meta)
    local c = acquire(self, lease)
    if self.closed then error(format("%s: %s: the client was closed", c.addr, name), 0) end
    -- The command's own wait plus the usual timeout as a grace period; none when it may wait
    -- forever.
    local cs = false
    if seconds > 0 and c.timeout_cs then cs = math.ceil(seconds * 100) + c.timeout_cs end
    local r = request.new(name, tpack(name, ...), cs)
    c:issue(r)
    lease.req = r
    local v = c:await(r)
    if is_error(v) then error(format("%s: %s: %s", c.addr, name, v.err), 0) end
    return v
end

----------------------------------------------------------------------------------------------
-- WAIT and WAITAOF: on the shared connection, behind the commands sent before them

-- WAIT counts the replicas that acknowledged every write made so far on the connection that sends
-- it; on a pooled connection that made no writes it would answer at once and prove nothing. So it
-- goes on the shared connection, after every command this client sent there before it, holding
-- the commands behind it for up to its timeout: a timeout of 0 (forever) is refused. The client's
-- own timeout is added as a grace period.
local function wait_call(self, name, ...)
    local c = self.conn
    local n = select("#", ...)
    local ms = n > 0 and math.tointeger(tonumber((select(n, ...)))) or nil
    if not ms or ms <= 0 then
        error(format("%s: %s: the timeout (last argument, ms) must be a positive integer, got %s: "
            .. "the command holds the connection every coroutine of the service shares, so it "
            .. "cannot wait forever", c.addr, name, tostring((select(n, ...)))), 3)
    end
    -- The calling coroutine's writes must have gone on the socket the WAIT will take: after a
    -- reconnect (or a Sentinel switch) Redis would count only the new socket's writes.
    local target = c
    if c.answered == nil then target = c.cur end  -- a Sentinel client: its current connection
    if not target or target.answered[coroutine.running()] ~= target.gen then
        error(format("%s: %s: this coroutine has had no reply on the client's current "
            .. "connection (it was made again since, or the coroutine sent nothing): the count "
            .. "would not cover its writes; send them and the %s in one db:pipeline", c.addr, name,
            name), 3)
    end
    local grace = self.opts.timeout
    if grace == nil then grace = 5000 end
    local cs = grace and ((ms + grace + 9) // 10) or false
    local r = request.new(name, tpack(name, ...), cs)
    c:issue(r)
    local v = c:await(r)
    if is_error(v) then error(format("%s: %s: %s", c.addr, name, v.err), 0) end
    return v
end

----------------------------------------------------------------------------------------------
-- Commands by name

-- The words after a command list's name, list arguments spliced.
local function args_of(cmd)
    return spliced(tunpack(cmd, 2, cmd.n or #cmd))
end

-- CLIENT REPLY OFF and SKIP take replies away: the replies after them would go to the wrong
-- callers. Other CLIENT subcommands go.
local function client_reply(cmd)
    local sub = args_of(cmd)[1]
    if type(sub) == "string" and upper(sub) == "REPLY" then
        return "REPLY OFF and SKIP take replies away, which would give the replies after them "
            .. "to the wrong callers on the connection every coroutine of the service shares: "
            .. "leave the replies you do not need unread"
    end
end

local per_name = "use redis.watch{...} for pub/sub: %s answers once per %s, which would give "
    .. "the replies after it to the wrong callers"

-- Commands that would break the shared connection's reply order, or change its state for every
-- coroutine with a reconnect undoing it silently, with the way to do it instead. A function
-- answers for a command refused only with some arguments: why, or nil (see connection.lua's
-- lenient).
local refused = {
    MULTI = "use db:transaction(function(tx) ... end): MULTI on a shared connection would take in "
        .. "other coroutines' commands",
    EXEC = "use db:transaction(function(tx) ... end)",
    DISCARD = "use db:transaction(function(tx) ... end)",
    SUBSCRIBE = "use redis.watch{...} for pub/sub",
    PSUBSCRIBE = "use redis.watch{...} for pub/sub",
    SSUBSCRIBE = "use redis.watch{...} for pub/sub",
    UNSUBSCRIBE = format(per_name, "UNSUBSCRIBE", "channel"),
    PUNSUBSCRIBE = format(per_name, "PUNSUBSCRIBE", "pattern"),
    SUNSUBSCRIBE = format(per_name, "SUNSUBSCRIBE", "channel"),
    MONITOR = "MONITOR turns the connection into a stream; it is not supported",
    CLIENT = client_reply,
    SELECT = "use the db option of redis.connect: SELECT on the connection every coroutine of the "
        .. "service shares would move all their commands, and a reconnect would move them back",
    RESET = "use the options of redis.connect (db, username, auth): RESET would take the "
        .. "connection every coroutine of the service shares back to database 0 and the default "
        .. "user, and the client would not know",
}

-- What a pipeline may not carry besides `refused`: commands that can block the connection every
-- coroutine shares until their timeout (Redis blocks there, unlike inside MULTI, so a
-- transaction may carry them). WAIT and WAITAOF bind a wait to the writes before them, so they
-- go with a timeout that ends.
local function blocks_alone(name)
    return format("%s blocks the connection every coroutine of the service shares: send it "
        .. "alone (db:%s(...) runs it on a connection of the blocking pool)", name, lower(name))
end
local in_pipeline = {}
for name in pairs(blocking) do in_pipeline[name] = blocks_alone(name) end
for _, name in ipairs { "XREAD", "XREADGROUP" } do
    local why = blocks_alone(name .. " with BLOCK")
    in_pipeline[name] = function(cmd)
        if block_option(tunpack(cmd, 2, cmd.n or #cmd)) then return why end
    end
end
local function wait_forever(cmd)
    local w = args_of(cmd)
    local ms = math.tointeger(tonumber(w[w.n]))
    if not ms or ms <= 0 then
        return format("the timeout (last argument, ms) must be a positive integer, got %s: the "
            .. "command holds the connection every coroutine of the service shares, so it cannot "
            .. "wait forever", tostring(w[w.n]))
    end
end
in_pipeline.WAIT = wait_forever
in_pipeline.WAITAOF = wait_forever

-- Command name as written by the caller -> function(self, ...), made on first use.
local methods = {}

local function method(key)
    local f = methods[key]
    if f then return f end
    if type(key) ~= "string" then return nil end
    local name = upper(key)
    local why = refused[name]
    local blocks = blocking[name]
    if type(why) == "function" then
        f = function(self, ...)
            local because = why(tpack(name, ...))
            if because then error(format("%s: %s: %s", self.conn.addr, name, because), 2) end
            return self.conn:call(name, name, ...)
        end
    elseif why then
        f = function(self)
            error(format("%s: %s: %s", self.conn.addr, name, why), 2)
        end
    elseif name == "WAIT" or name == "WAITAOF" then
        f = function(self, ...) return wait_call(self, name, ...) end
    elseif blocks then
        f = function(self, ...)
            local seconds = blocks(...)
            if seconds == nil then return self.conn:call(name, name, ...) end
            return blocking_call(self, name, seconds, ...)
        end
    else
        f = function(self, ...)
            return self.conn:call(name, name, ...)
        end
    end
    methods[key] = f
    -- A method of the client's own under this name (exists, sismember) keeps its place.
    if rawget(client, key) == nil then rawset(client, key, f) end
    return f
end

-- The client's own methods take precedence over commands of the same name (db:command is not
-- the COMMAND command: use db:command("COMMAND", ...)); every other key is a command. A plain
-- table as __index keeps the lookup of a known method out of Lua code.
client_meta.__index = client
setmetatable(client, { __index = function(_, key) return method(key) end })

-- db:command(name, arg...): any command, e.g. db:command("CLIENT", "INFO"), its reply as Redis
-- sent it (db:command("EXISTS", k) is an integer in both reply modes). Yields.
function client:command(name, ...)
    return method(name)(self, ...)
end

-- skynet's driver answers these two with a boolean (the integer ~= 0); with replies = "raw" they
-- return Redis's integer. Only the lower-case names, as in skynet: db:EXISTS(k) is the plain
-- command. Yields.
function client:exists(...)
    local v = self.conn:call("EXISTS", "EXISTS", ...)
    if self.raw then return v end
    return v ~= 0
end

function client:sismember(...)
    local v = self.conn:call("SISMEMBER", "SISMEMBER", ...)
    if self.raw then return v end
    return v ~= 0
end

----------------------------------------------------------------------------------------------
-- Pipelines and transactions

-- cmd: a command's list, or its name (a pipeline builder keeps only the names).
local function describe(i, cmd)
    if type(cmd) == "table" then cmd = cmd[1] end
    return format("#%d %s", i, upper(tostring(cmd)))
end

-- Lower- or mixed-case name -> upper case, memoized: pipelines look every name up.
local upper_name = setmetatable({}, { __index = function(t, k)
    local v = upper(k)
    t[k] = v
    return v
end })

-- A command name as written by the caller -> false when a pipeline may carry it, else the
-- reason it is refused (refused's or in_pipeline's text, or their function of the command);
-- nil for a name that is not a string. Memoized.
local pipeline_refusal = setmetatable({}, { __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local name = upper_name[k]
    local v = refused[name] or in_pipeline[name] or false
    t[k] = v
    return v
end })

-- Fills results from a list of replies: {ok = true, out = value} or {ok = false, out = text}.
-- Without a results table returns the values, raising the first error.
local function collect(self, what, cmds, replies, first, n, results)
    local addr = self.conn.addr
    if results then
        for i = 1, n do
            local v = replies[first + i - 1]
            if is_error(v) then
                local text = format("%s: %s %s: %s", addr, what, describe(i, cmds[i]), v.err)
                results[i] = { ok = false, out = text }
            else
                results[i] = { ok = true, out = v }
            end
        end
        for i = #results, n + 1, -1 do results[i] = nil end
        return results
    end
    for i = 1, n do
        local v = replies[first + i - 1]
        if is_error(v) then
            error(format("%s: %s %s: %s", addr, what, describe(i, cmds[i]), v.err), 0)
        end
    end
    -- A pipeline's replies are its values already ({v1, ..., n = n}).
    if first == 1 and replies.n == n then return replies end
    local values = { n = n }
    for i = 1, n do values[i] = replies[first + i - 1] end
    return values
end

-- skynet's shapes: without results the last command's reply (raised when it is an error; the
-- errors of the others are not looked at); with results one {ok = bool, out = value or Redis's
-- error text} per command is appended to it, and it is returned.
local function skynet_shape(self, ops, replies, n, results)
    if results then
        for i = 1, n do
            local v = replies[i]
            if is_error(v) then
                results[#results + 1] = { ok = false, out = v.err }
            else
                results[#results + 1] = { ok = true, out = v }
            end
        end
        return results
    end
    local v = replies[n]
    if is_error(v) then
        error(format("%s: pipeline %s: %s", self.conn.addr, describe(n, ops[n]), v.err), 0)
    end
    return v
end

-- db:pipeline() (no list): a builder, as redis-py's and ioredis's pipelines are. Each command
-- method (p:set(k, v), p:command(name, ...)) checks its command and encodes it at once into the
-- builder's own buffer, so a pipeline costs no table per command; p:execute([results]) sends
-- them in one write, waits, and answers as db:pipeline(ops, results) would. execute empties the
-- builder whether it succeeds or not, and the builder can be used again. A command that a
-- pipeline may not carry, or an argument that cannot be encoded, raises at its method with
-- nothing of it added. On a Redis Cluster the commands are kept as lists and execute hands them
-- to db:pipeline, which splits them by slot. Methods return the builder (p:set(..):get(..)).
-- Thread: the owning service; one coroutine at a time adds to a builder.
local builder = {}  -- its own methods, then every command's (made on first use)
local builder_meta = { __index = builder }
local buf_append, buf_format = codec.buffer_methods.append, codec.buffer_methods.format
local builder_fast = codec.builder_method

-- The level, for an error raised by the function that calls this, of the first Lua function
-- outside this file: the application's line that added the command, whether the method ran in
-- C (codec.builder_method calls its general path from C) or in Lua (p:command, a refused name).
-- 0 (no position) when there is none.
local this_file = debug.getinfo(1, "S").source
local function caller_level()
    local level = 3
    while true do
        local info = debug.getinfo(level, "S")
        if not info then return 0 end
        if info.what ~= "C" and info.source ~= this_file then return level - 1 end
        level = level + 1
    end
end

local function builder_refused(p, n, name, why)
    error(format("%s: pipeline #%d %s: %s", p[5].conn.addr, n, upper(tostring(name)),
        why or "not a command"), caller_level())
end

-- The method of command `key`, shared by every builder. What a pipeline may not carry is
-- mostly known from the name alone, so a refused name gets a method that only raises; a name
-- refused only with some arguments (XREAD with BLOCK) gets one that checks them first.
local function builder_method(key)
    local why = pipeline_refusal[key]
    if why ~= false and type(why) ~= "function" then
        return function(p) builder_refused(p, p[2] + 1, key, why) end
    end
    local function add(p, ...)
        local buf, n = p[1], p[2] + 1
        if not buf then
            -- A Redis Cluster client: the router splits lists by slot.
            local cmd = tpack(key, ...)
            local bad = bad_args(cmd)
            if bad then builder_refused(p, n, key, bad) end
            p[3][n] = cmd
        elseif not buf_append(buf, key, ...) then
            -- Lists to splice, or a word that cannot be encoded (format names it).
            if not pcall(buf_format, buf, key, ...) then
                builder_refused(p, n, key, bad_args(tpack(key, ...)) or
                    "the command cannot be encoded")
            end
            p[3][n] = key
        else
            p[3][n] = key
        end
        p[2] = n
        return p
    end
    if why then
        -- Refused with some arguments only: checked in Lua first.
        return function(p, ...)
            local because = why(tpack(key, ...))
            if because then builder_refused(p, p[2] + 1, key, because) end
            return add(p, ...)
        end
    end
    -- In C when every word is a string or a number (codec.builder_method), else add.
    return builder_fast(key, add)
end

setmetatable(builder, { __index = function(t, key)
    if type(key) ~= "string" then return nil end
    local f = builder_method(key)
    rawset(t, key, f)
    return f
end })

-- p:command(name, ...): any command, spelled out (also one named like a builder method).
local commands = setmetatable({}, { __index = function(t, key)
    if type(key) ~= "string" then return nil end
    local f = rawget(builder, key)
    if f == nil or key == "command" or key == "execute" or key == "count" or key == "exec" then
        f = builder_method(key)
    end
    t[key] = f
    return f
end })

function builder:command(name, ...)
    local f = commands[name]
    if not f then builder_refused(self, self[2] + 1, name) end
    return f(self, ...)
end

-- EXEC here would be the Redis command (refused in pipelines); ioredis's spelling is a likely slip.
function builder:exec()
    error(format("%s: pipeline: p:execute() sends a pipeline (EXEC belongs in db:transaction)",
        self[5].conn.addr), 2)
end

-- Commands added so far and not yet sent.
function builder:count()
    return self[2]
end

function builder:execute(results)
    local n, db = self[2], self[5]
    if n == 0 then
        if db.raw then return results or { n = 0 } end
        error(format("%s: pipeline: no commands", db.conn.addr), 2)
    end
    -- The names (or lists) go with this request; the builder takes the spare list, so that a
    -- builder used in a loop makes no new table per pipeline.
    local names = self[3]
    self[3], self[4], self[2] = self[4], names, 0
    local buf = self[1]
    if not buf then
        for i = #names, n + 1, -1 do names[i] = nil end
        return db:pipeline(names, results)
    end
    local bytes = buf:tostring()
    buf:reset()
    local c = db.conn
    local r = request.wire("pipeline", bytes, n)
    c:issue(r)
    local replies = c:await(r)
    if not db.raw then return skynet_shape(db, names, replies, n, results) end
    return collect(db, "pipeline", names, replies, 1, n, results)
end

-- A builder's state in its array part (fast to reach from the VM): [1] its codec buffer
-- (false on a Redis Cluster), [2] commands added, [3] their names (or lists), [4] the spare list
-- execute swaps in, [5] the client.
local function new_builder(db)
    return setmetatable({ db.conn.takes_wire and codec.buffer() or false, 0, {}, {}, db },
        builder_meta)
end

-- db:pipeline(ops [, results]): sends ops ({ {"set", "a", 1}, {"incr", "a"} }) in one write and
-- waits for all replies. The default (skynet's) shapes: see skynet_shape. With replies = "raw":
-- with a results table it is filled with {ok = bool, out = value or error text naming the
-- server and position} per command (entries past the last removed) and returned; without one
-- the list of values is returned and the first command error is raised (naming its position).
-- Connection failures and timeouts raise in every form. Yields.
function client:pipeline(ops, results)
    if ops == nil and results == nil then return new_builder(self) end
    if type(ops) ~= "table" then
        error(format("%s: pipeline: ops is a %s (a list of commands expected)", self.conn.addr,
            type(ops)), 2)
    end
    local n = #ops
    if n == 0 then
        if self.raw then return results or { n = 0 } end
        error(format("%s: pipeline: no commands", self.conn.addr), 2)
    end
    local c = self.conn
    local r = request.batch("pipeline", ops)
    -- Each command is checked as it is encoded (a table, a name a pipeline may carry, arguments
    -- that encode), in C on a ready connection; nothing is sent when one fails.
    r.refusal = pipeline_refusal
    c:issue(r)
    local replies = c:await(r)
    if not self.raw then return skynet_shape(self, ops, replies, n, results) end
    return collect(self, "pipeline", ops, replies, 1, n, results)
end

local tx_meta = {}
tx_meta.__index = function(tx, key)
    local name = upper(key)
    local f = function(self, ...)
        local cmd = tpack(name, ...)
        local why = refused[name]
        if type(why) == "function" then why = why(cmd) end
        why = why or bad_args(cmd)
        if why then
            local what = describe(#self + 1, cmd)
            error(format("%s: MULTI/EXEC %s: %s", rawget(self, "addr"), what, why), 2)
        end
        self[#self + 1] = cmd
    end
    rawset(tx, key, f)
    return f
end

-- db:transaction(fn [, results]): fn(tx) records commands (tx:set(k, v), tx:command(name, ...));
-- they are sent as MULTI, the commands, EXEC in one write, so no other coroutine's command can
-- fall inside. Returns EXEC's replies as pipeline does (values, or results filled). A command
-- rejected while queuing aborts the whole transaction with an error naming it. Yields.
function client:transaction(fn, results)
    local tx = setmetatable({ addr = self.conn.addr }, tx_meta)
    tx.command = function(t, name, ...) return tx_meta.__index(t, name)(t, ...) end
    fn(tx)
    local n = #tx
    local cmds = { { "MULTI", n = 1 } }
    for i = 1, n do cmds[i + 1] = tx[i] end
    cmds[n + 2] = { "EXEC", n = 1 }
    local c = self.conn
    local r = request.new("MULTI/EXEC", cmds)
    c:issue(r)
    local replies = c:await(r)
    local exec = replies[n + 2]
    if is_error(exec) then
        for i = 2, n + 1 do
            if is_error(replies[i]) then
                error(format("%s: MULTI/EXEC: %s (command %s: %s)", c.addr, exec.err,
                    describe(i - 1, cmds[i]), replies[i].err), 0)
            end
        end
        error(format("%s: MULTI/EXEC: %s", c.addr, exec.err), 0)
    end
    if is_error(replies[1]) then error(format("%s: MULTI: %s", c.addr, replies[1].err), 0) end
    if exec == nil then return nil end  -- a WATCHed key changed: nothing was executed
    return collect(self, "MULTI/EXEC", tx, exec, 1, n, results)
end

----------------------------------------------------------------------------------------------
-- Scripts

local script_meta = {}
script_meta.__index = script_meta

-- redis.script(src) -> s. s(db, numkeys, key..., arg...) (or s:call(db, ...)) runs the script
-- with EVALSHA, its SHA-1 computed here; when the server answers NOSCRIPT (first use, SCRIPT
-- FLUSH, a restart) it runs it once with EVAL, which also loads it. Yields.
function redis.script(src)
    assert(type(src) == "string", "redis.script needs the script's source")
    return setmetatable({ src = src, sha = crypt.hexencode(crypt.sha1(src)) }, script_meta)
end

function script_meta.call(s, db, numkeys, ...)
    local c = db.conn
    local reply = c.reply
    if reply then
        -- A plain connection encodes the arguments at once, without packing them: the retry
        -- with EVAL takes them from this call again.
        local name, v = "EVALSHA", reply(c, "EVALSHA", "EVALSHA", s.sha, numkeys, ...)
        if is_error(v) and v.err:sub(1, 8) == "NOSCRIPT" then
            name, v = "EVAL", reply(c, "EVAL", "EVAL", s.src, numkeys, ...)
        end
        if is_error(v) then error(format("%s: %s: %s", c.addr, name, v.err), 0) end
        return v
    end
    local r = request.new("EVALSHA", tpack("EVALSHA", s.sha, numkeys, ...))
    c:issue(r)
    local v = c:await(r)
    if is_error(v) and v.err:sub(1, 8) == "NOSCRIPT" then
        r = request.new("EVAL", tpack("EVAL", s.src, numkeys, ...))
        c:issue(r)
        v = c:await(r)
    end
    if is_error(v) then error(format("%s: %s: %s", c.addr, r[1], v.err), 0) end
    return v
end
script_meta.__call = script_meta.call

----------------------------------------------------------------------------------------------
-- Life cycle

-- redis.connect(opts) -> db. opts: host ("127.0.0.1"), port (6379), auth, username, db, name
-- (CLIENT SETNAME), timeout (ms per command, also how long a command waits for a reconnect;
-- default 5000, false = none), connect_timeout (ms, 5000), queue_limit (commands waiting for a
-- reconnect, 10000), backoff_min / backoff_max (ms, 50 / 5000), blocking_pool (connections for
-- blocking commands, 4), max_bulk / max_elements (reply limits, 512 MB / 2^24), replies
-- ("skynet", the default: exists/sismember answer booleans and pipeline has skynet's shapes;
-- "raw": Redis's integers and skyhive's pipeline shapes). Raises when the first connection or its
-- AUTH/SELECT fails; later failures are retried in the background. Yields.
local function reply_mode(opts)
    local mode = opts.replies
    if mode == nil or mode == "skynet" then return false end
    if mode == "raw" then return true end
    error(format("redis: opts.replies is %s (\"skynet\" or \"raw\" expected)",
        type(mode) == "string" and format("%q", mode) or "a " .. type(mode)), 3)
end

local function new_client(c, opts)
    return setmetatable({
        conn = c,
        opts = opts,
        raw = reply_mode(opts),
        pool = { idle = {}, busy = {}, count = 0, limit = opts.blocking_pool or 4, waiters = {} },
        closed = false,  -- every field must exist: a missing key reads as a command
    }, client_meta)
end

function redis.connect(opts)
    opts = opts or {}
    reply_mode(opts)
    local c = connection.new(opts)
    c:connect()
    return new_client(c, opts)
end

-- redis.sentinel(opts) -> db: a client with the methods above that follows the master named
-- by Redis Sentinel through failover (or reads from replicas with role = "replica"); see
-- skynet.db.redis.sentinel and docs/lua-api.md, "Sentinel". Yields.
function redis.sentinel(opts)
    reply_mode(opts or {})
    return require("skynet.db.redis.sentinel").connect(opts, new_client)
end

-- redis.cluster(opts) -> db: a client with the methods above over a Redis Cluster: each command
-- goes to the node that serves its keys' slot, redirections are followed; see
-- skynet.db.redis.cluster and docs/lua-api.md, "Redis Cluster". Yields.
function redis.cluster(opts)
    reply_mode(opts or {})
    return require("skynet.db.redis.cluster").connect(opts, new_client)
end

-- Closes the client: commands waiting or in flight fail with "the client was closed", blocking
-- ones too (their connections are closed, which ends them on the server). Does not yield.
function client:disconnect()
    self.closed = true
    self.conn:close()
    local pool = self.pool
    for i = 1, #pool.idle do pool.idle[i]:close() end
    pool.idle = {}
    for c in pairs(pool.busy) do c:close() end
    -- Coroutines waiting for a pooled connection wake without one and raise.
    local waiters = pool.waiters
    pool.waiters = {}
    for i = 1, #waiters do wakeup(waiters[i]) end
end
client.close = client.disconnect

-- With opts.sentinels (a Sentinel client's opts too) the watcher follows the master; with
-- opts.cluster (seeds) it watches a Redis Cluster (skynet.db.redis.cluster_watch).
redis.watch = function(opts)
    if opts and opts.sentinels then return require("skynet.db.redis.sentinel").watch(opts) end
    if opts and opts.cluster then return require("skynet.db.redis.cluster").watch(opts) end
    return require("skynet.db.redis.watch").new(opts)
end

redis.is_error = is_error

-- redis.slot(key) -> the Redis Cluster hash slot of a key (0..16383; the {hash tag} when there
-- is one). Does not yield.
redis.slot = require("skyhive.redis.codec").slot

return redis
