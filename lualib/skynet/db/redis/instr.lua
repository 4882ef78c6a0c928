-- The metrics of skynet.db.redis (docs/operations.md, "Metrics of Redis, locks, Sentinel, the
-- cluster and the game"): the families of the Redis client, the locks and the Sentinel client,
-- registered in the node's registry (skynet.metrics) on first use, and their children made once
-- per label set and kept here, so that the hot paths only call inc/dec/observe on a child.
--
-- Thread: the owning service (the caches are per Lua state; the registry is the node's, and its
-- updates may come from any worker).
local metrics = require "skynet.metrics"

local format = string.format

local M = {}

-- Seconds: 100 us to 1 s for a Redis command; 1 ms to 10 s for a wait for a lock.
M.COMMAND_BUCKETS = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1 }
M.WAIT_BUCKETS = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

local families = {}

-- The family `name`, registered once per Lua state (the registry answers the same family to
-- every service that registers it with the same type and labels).
local function family(kind, name, help, labels, buckets)
    local f = families[name]
    if f then return f end
    if kind == "histogram" then
        f = metrics.histogram(name, help, labels, buckets)
    else
        f = metrics[kind](name, help, labels)
    end
    families[name] = f
    return f
end
M.family = family

----------------------------------------------------------------------------------------------
-- The Redis client

local clients = {}

-- The children of one client label set: commands, errors by kind (reply, timeout,
-- connection), reconnects, in_flight, duration. `label` names the client: its connection name
-- (CLIENT SETNAME) or "host:port"; `role`: standalone, master, replica, sentinel, pubsub,
-- cluster.
function M.client(label, role)
    local key = label .. "\0" .. role
    local c = clients[key]
    if c then return c end
    local L = { "client", "role" }
    local errors = family("counter", "skyhive_redis_errors_total",
        "Redis commands that failed: an error reply (kind=reply), no reply in time (timeout), "
            .. "or the connection lost or unavailable (connection)", { "client", "role", "kind" })
    c = {
        commands = family("counter", "skyhive_redis_commands_total",
            "Redis commands written to the server (handshake and pub/sub commands included)", L)
            :labels(label, role),
        reply_errors = errors:labels(label, role, "reply"),
        timeouts = errors:labels(label, role, "timeout"),
        conn_errors = errors:labels(label, role, "connection"),
        reconnects = family("counter", "skyhive_redis_reconnects_total",
            "Connections made again after a drop (handshake completed)", L):labels(label, role),
        in_flight = family("gauge", "skyhive_redis_in_flight",
            "Redis commands written and not answered yet", L):labels(label, role),
        duration = family("histogram", "skyhive_redis_command_duration_seconds",
            "Time from the write of a command (a pipeline or transaction counts once) to its "
                .. "last reply", L, M.COMMAND_BUCKETS):labels(label, role),
    }
    clients[key] = c
    return c
end

-- The client label of a connection: its name, else "host:port".
function M.client_label(opts, host, port)
    if type(opts.name) == "string" and opts.name ~= "" then return opts.name end
    return format("%s:%s", host, port)
end

----------------------------------------------------------------------------------------------
-- Locks

local lock_children = {}

-- The children of one kind of lock ("lock", "read", "write", "semaphore").
function M.lock(kind)
    local c = lock_children[kind]
    if c then return c end
    local failures = family("counter", "skyhive_lock_failures_total",
        "Acquisitions that failed, by reason (contended, timeout, unavailable, not_synced)",
        { "kind", "reason" })
    local losses = family("counter", "skyhive_lock_losses_total",
        "Leases lost while held, by reason (lost, expired, unavailable)", { "kind", "reason" })
    c = {
        acquired = family("counter", "skyhive_lock_acquisitions_total",
            "Locks, read/write leases and semaphore permits acquired", { "kind" }):labels(kind),
        waited = family("histogram", "skyhive_lock_wait_seconds",
            "Contended waits: from the first try that found the lock held to the acquisition "
                .. "or the end of the wait", { "kind" }, M.WAIT_BUCKETS):labels(kind),
        failed = {},
        lost = {},
    }
    setmetatable(c.failed, { __index = function(t, reason)
        local child = failures:labels(kind, reason)
        t[reason] = child
        return child
    end })
    setmetatable(c.lost, { __index = function(t, reason)
        local child = losses:labels(kind, reason)
        t[reason] = child
        return child
    end })
    lock_children[kind] = c
    return c
end

local wakes, wake_children = nil, {}
-- The counter of waiters woken by a release, by how the release reached them: "notice" (its
-- pub/sub message) or "local" (a release of this node granted the lock to a waiter of the node
-- and woke it itself, before the notice).
function M.lock_wakes(by)
    local c = wake_children[by]
    if c then return c end
    wakes = wakes or family("counter", "skyhive_lock_wakes_total",
        "Lock waiters woken by a release, by how it reached them (notice, local)", { "by" })
    c = wakes:labels(by)
    wake_children[by] = c
    return c
end

local refusals
-- The counter of fenced writes refused as stale.
function M.fencing_refusals()
    refusals = refusals or family("counter", "skyhive_lock_fencing_refusals_total",
        "Fenced writes refused because a higher fence had written the resource", {})
    return refusals
end

----------------------------------------------------------------------------------------------
-- Sentinel

local sentinel_children = {}

-- The children of one master name: failovers, hold (seconds writes were held), and master(addr),
-- the current-master gauge's child for an address.
function M.sentinel(name)
    local c = sentinel_children[name]
    if c then return c end
    local master = family("gauge", "skyhive_sentinel_master",
        "1 for the address the sentinels name as the master, 0 for a former one",
        { "master", "address" })
    c = {
        failovers = family("counter", "skyhive_sentinel_failovers_total",
            "Master changes seen (the master moved from one address to another)", { "master" })
            :labels(name),
        hold = family("counter", "skyhive_sentinel_write_hold_seconds_total",
            "Seconds the node's master clients held commands (failover in progress or no "
                .. "verified master), summed over the clients", { "master" }):labels(name),
        master = function(addr) return master:labels(name, addr) end,
    }
    sentinel_children[name] = c
    return c
end

return M
