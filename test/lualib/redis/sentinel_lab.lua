-- Shared by the Sentinel client's Lua tests (not a test itself): the topology with_sentinel
-- started, its control port, and a writer that counts what it was told.
local skynet = require "skynet"
local redis = require "skynet.db.redis"

local M = {}

local function ports(var)
    local list = {}
    for p in assert(os.getenv(var), var .. " (run under with_sentinel)"):gmatch("%d+") do
        list[#list + 1] = tonumber(p)
    end
    return list
end

M.redis_ports = ports "SKYHIVE_TEST_REDIS_PORTS"
M.sentinel_ports = ports "SKYHIVE_TEST_SENTINEL_PORTS"
M.name = os.getenv "SKYHIVE_TEST_SENTINEL_MASTER"
M.sentinels = {}
for i, p in ipairs(M.sentinel_ports) do M.sentinels[i] = "127.0.0.1:" .. p end

local lab
-- The control connection: lab():kill(port), lab():stop(port), lab():master()...
function M.lab()
    if not lab then
        lab = redis.connect { port = assert(tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT")),
            timeout = 60000 }
    end
    return lab
end

-- A plain client of one server or sentinel (not following anything).
function M.direct(port)
    return redis.connect { port = port, timeout = 5000 }
end

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
