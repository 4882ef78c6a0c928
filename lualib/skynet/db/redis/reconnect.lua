-- The life cycle of a skynet.db.redis connection (connection.lua describes its states and
-- requests): the first connect, the AUTH/SELECT/CLIENT SETNAME handshake, dropping a broken
-- socket, the reconnect loop with backoff, and closing for good.
--
-- Every function takes the connection `c` it works on and uses only its fields and methods
-- (issue_now, fail_inflight, release_backlog, fail_backlog, flush, failure), so this module
-- needs nothing private of connection.lua. The connection's own connect, drop, on_close and close
-- methods call these.
--
-- Thread: the owning service; functions marked "yields" must run in a coroutine.
local skynet = require "skynet"
local codec = require "skyhive.redis.codec"
local transport = require "skynet.db.redis.transport"
local request = require "skynet.db.redis.request"

local format, random, getmetatable = string.format, math.random, getmetatable
local skynet_now, wait, fork = skynet.now, skynet.wait, skynet.fork
local error_mt = codec.error_mt

local M = {}

local function ms_to_cs(ms)
    return (ms + 9) // 10
end

-- The handshake commands for the connection options (auth, username, db, name, readonly,
-- cluster_id): a list of argument lists, empty when there is nothing to send.
function M.handshake_commands(opts)
    local cmds = {}
    if opts.auth then
        if opts.username then
            cmds[#cmds + 1] = { "AUTH", opts.username, opts.auth, n = 3 }
        else
            cmds[#cmds + 1] = { "AUTH", opts.auth, n = 2 }
        end
    end
    if opts.db and opts.db ~= 0 then cmds[#cmds + 1] = { "SELECT", opts.db, n = 2 } end
    if opts.name then cmds[#cmds + 1] = { "CLIENT", "SETNAME", opts.name, n = 3 } end
    -- A Redis Cluster replica serves reads only to a connection that said READONLY.
    if opts.readonly then cmds[#cmds + 1] = { "READONLY", n = 1 } end
    -- A Redis Cluster node is checked to be the node the slot map names: another server that
    -- took over the address (a restarted container, a reused port) must not get its commands.
    if opts.cluster_id then cmds[#cmds + 1] = { "CLUSTER", "MYID", n = 2 } end
    return cmds
end

-- The wait before reconnect attempt n (0 first), in ms: uniform in [d/2, d] with
-- d = min(max_ms, min_ms * 2^n), so many clients of one restarted server do not reconnect in
-- lockstep.
function M.backoff_ms(n, min_ms, max_ms)
    local d = math.min(max_ms, min_ms * (1 << math.min(n, 20)))
    return d // 2 + random(0, d - d // 2)
end

-- Sends the handshake on c's new socket, ahead of the backlog, and waits for it. Returns nil or
-- the error text. Yields.
local function handshake(c)
    local cmds = M.handshake_commands(c)
    if #cmds == 0 then return nil end
    local r = request.new("handshake", cmds, ms_to_cs(c.connect_timeout))
    c:issue_now(r)
    if not r.done then wait(r) end
    if r.err then
        if not c.sock then return c.cause end
        return format("%s: no reply within %d ms", cmds[1][1], c.connect_timeout)
    end
    for i = 1, #cmds do
        local v = r.value[i]
        local name = cmds[i][1]
        if getmetatable(v) == error_mt then
            if name == "CLIENT" then name = "CLIENT SETNAME" end
            if name == "CLUSTER" then name = "CLUSTER MYID" end
            return name .. ": " .. v.err
        end
        if name == "CLUSTER" and v ~= c.cluster_id then
            return format("CLUSTER MYID: this is node %s, not %s (the node the cluster map names)",
                tostring(v), c.cluster_id)
        end
    end
end

-- One attempt: connect, framed mode, handshake, then the backlog goes out. Returns true, or nil
-- and the cause (a text without the server's name). Yields.
function M.attempt(c)
    local sock, err = transport.open(c.host, c.port, c, c.connect_timeout, c.limits)
    if not sock then
        return nil, "connect: " .. err
    end
    if c.state == "closed" then
        transport.close(sock)
        return nil, "the client was closed"
    end
    c.sock = sock
    c.last_rx = skynet_now()
    c.state = "handshake"
    local herr = handshake(c)
    if herr then
        c:drop(herr)
        return nil, herr
    end
    if c.state ~= "handshake" then
        return nil, c.cause
    end
    c.state = "ready"
    if c.gen > 0 then c.m.reconnects:inc() end
    c.gen = c.gen + 1
    c.cause = nil
    if c.on_ready then c.on_ready(c) end
    c:release_backlog()
    return true
end

-- Connects c for the first time; raises the failure (nothing retries it), after failing what
-- waits in the backlog. Yields.
function M.first(c)
    local ok, err = M.attempt(c)
    if not ok then
        c.state = "closed"
        c:fail_backlog(err)
        error(c.addr .. ": " .. err, 0)
    end
end

-- Tries again until c is ready or closed, waiting backoff_ms between attempts. One loop per
-- connection (c.reconnecting). Yields.
function M.loop(c)
    local n = 0
    while c.state == "down" do
        skynet.sleep(ms_to_cs(M.backoff_ms(n, c.backoff_min, c.backoff_max)))
        if c.state ~= "down" then break end
        n = n + 1
        local ok, err = M.attempt(c)
        if not ok then
            c.cause = err
            if c.state == "handshake" then c.state = "down" end
        end
    end
    c.reconnecting = false
end

-- c's socket is gone (or must go): what is in flight fails, then c.on_drop(c, cause) runs if
-- set (the Sentinel router closes c and connects elsewhere); otherwise, unless c is closed, the
-- reconnect loop starts. `cause` says why, without the server's name ("connection lost (...)").
function M.drop(c, cause)
    local sock = c.sock
    c.sock = nil
    if sock then transport.close(sock) end
    c.buf:reset()
    c.untracked = 0
    c:forget_outstanding()
    c.flush_pending = false
    if c.state ~= "closed" then c.state = "down" end
    c.cause = cause
    c:fail_inflight(cause)
    if c.on_drop then
        c.on_drop(c, cause)
    elseif c.state == "down" and not c.reconnecting then
        c.reconnecting = true
        fork(M.loop, c)
    end
end

-- Closes c for good: the backlog and the requests in flight fail. Does not yield.
function M.close(c)
    if c.state == "closed" then return end
    c.state = "closed"
    local sock = c.sock
    if sock then
        -- What was issued this tick still goes out before the FIN: the flush writes only while
        -- c.sock is set, so the socket is forgotten after it.
        c:flush()
        c.sock = nil
        transport.close(sock)
    end
    c:forget_outstanding()
    c.cause = "the client was closed"
    c:fail_inflight("the client was closed")
    c:fail_backlog("the client was closed")
end

return M
