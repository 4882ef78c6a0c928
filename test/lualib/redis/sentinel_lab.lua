-- Shared by the Sentinel client's Lua tests (not a test itself): the topology with_sentinel
-- started, its control port, and a writer that counts what it was told.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local env = require "lab_env"

local M = {}

M.redis_ports = env.ports("SKYHIVE_TEST_REDIS_PORTS", "with_sentinel")
M.sentinel_ports = env.ports("SKYHIVE_TEST_SENTINEL_PORTS", "with_sentinel")
M.name = os.getenv "SKYHIVE_TEST_SENTINEL_MASTER"
M.sentinels = {}
for i, p in ipairs(M.sentinel_ports) do M.sentinels[i] = "127.0.0.1:" .. p end

-- The control connection: lab():kill(port), lab():stop(port), lab():master()...
M.lab = env.control("with_sentinel", 60000)

-- The first entry of a failover timeline (the "sentinel" board's last_failover) whose event is
-- `event`: its index and the entry, or nil.
function M.event(timeline, event)
    for i, e in ipairs(timeline) do
        if e.event == event then return i, e end
    end
end

-- A plain client of one server or sentinel (not following anything).
M.direct = env.direct

function M.master_port()
    return M.lab():master()
end

function M.client(opts)
    opts = opts or {}
    opts.sentinels = opts.sentinels or M.sentinels
    opts.master = opts.master or M.name
    return redis.sentinel(opts)
end

-- n coroutines INCR key in a loop (pace_cs between two of one coroutine) until w.running is
-- false. Counts acknowledged increments, errors (by kind), and the time of each first success
-- after w:mark().
function M.writer(db, key, n, pace_cs)
    local w = { acked = 0, errors = {}, ambiguous = 0, certain = 0, running = true, live = 0,
        first_ok_after_mark = nil, mark_at = nil, max = 0 }
    function w.mark()
        w.mark_at = skynet.hpc()
        w.first_ok_after_mark = nil
    end
    function w.stop()
        w.running = false
        while w.live > 0 do skynet.sleep(1) end
    end
    for _ = 1, n do
        w.live = w.live + 1
        skynet.fork(function()
            while w.running do
                local ok, v = pcall(db.incr, db, key)
                if ok then
                    w.acked = w.acked + 1
                    if v > w.max then w.max = v end
                    if w.mark_at and not w.first_ok_after_mark then w.first_ok_after_mark = skynet.hpc() end
                else
                    w.errors[#w.errors + 1] = v
                    if v:find("may or may not have executed", 1, true) then
                        w.ambiguous = w.ambiguous + 1
                    else
                        w.certain = w.certain + 1
                    end
                end
                if pace_cs then skynet.sleep(pace_cs) end
            end
            w.live = w.live - 1
        end)
    end
    return w
end

return M
