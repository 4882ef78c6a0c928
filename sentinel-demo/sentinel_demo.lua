-- The Sentinel demo service: a writer incrementing a counter and a lock holder on a
-- redis.sentinel client, a fault, and the timeline of what followed. Run by sentinel-demo/run.sh
-- under sentinel-demo/topology.sh, which exports the sentinels' ports and the master's name.
-- The faults are signals to the master's process (its pid from INFO): the node runs on the
-- machine of the topology.
--   SCENARIO  kill (kill -9 of the master), pause (SIGSTOP past down-after, then SIGCONT) or
--             failover (SENTINEL FAILOVER)
--   QUIET     set: print only the summary and the machine-readable line (the benchmark)
-- Exits the node with 0 when no unsent command failed, the client wrote on the new master, and,
-- for the failover scenario (where the sentinels wait for the replica), no acknowledged write was
-- lost. After kill -9 or a pause the count of lost acknowledged writes is a measurement: with
-- asynchronous replication a write the master acknowledged before a replica had it dies with it
-- (writes confirmed with WAIT are not lost: test_sentinel_kill.lua).
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local sentinel = require "skynet.db.redis.sentinel"
local lock = require "skynet.db.redis.lock"

local format = string.format
local scenario = os.getenv "SCENARIO" or "kill"
local quiet = os.getenv "QUIET"
local WRITERS, PACE_CS = 8, 1

local function ports(var)
    local list = {}
    for p in assert(os.getenv(var), var .. ": run this under sentinel-demo/topology.sh"):gmatch("%d+") do
        list[#list + 1] = tonumber(p)
    end
    return list
end

local sentinel_ports = ports "SENTINEL_DEMO_SENTINEL_PORTS"
local name = os.getenv "SENTINEL_DEMO_MASTER" or "mymaster"
local sentinels = {}
for i, p in ipairs(sentinel_ports) do sentinels[i] = "127.0.0.1:" .. p end

local t_fault
local timeline = {}
local function ms(t) return (t - t_fault) / 1e6 end
local function note(what, t)
    t = t or skynet.hpc()
    timeline[#timeline + 1] = { t, what }
    if not quiet and t_fault then skynet.error(format("[%7.1f ms] %s", ms(t), what)) end
end

-- The sentinels' own announcements, heard on a plain subscription to each of them.
local heard = {}
local function listen(port)
    local ok, w = pcall(redis.watch, { port = port })
    if not ok then return end
    w:psubscribe("+odown", "+try-failover", "+promoted-slave", "+switch-master")
    while true do
        local got, msg, channel = pcall(w.message, w)
        if not got then return end
        if t_fault and not heard[channel] then
            heard[channel] = skynet.hpc()
            note(format("sentinels: %s %s", channel, msg), heard[channel])
        end
    end
end

-- The process behind a Redis port, as its INFO says.
local function pid_of(port)
    local c = redis.connect { port = port }
    local pid = tonumber(c:info("server"):match("process_id:(%d+)"))
    c:disconnect()
    return assert(pid, "no process_id in the INFO of port " .. port)
end

-- kill(1) through the shell: it blocks this worker for the few ms it takes, which a demo can
-- afford and a game service could not.
local function signal(pid, sig)
    local ok, how, code = os.execute(format("kill -%s %d", sig, pid))
    assert(ok, format("kill -%s %d: %s %s", sig, pid, tostring(how), tostring(code)))
end

local function run()
    for _, p in ipairs(sentinel_ports) do skynet.fork(listen, p) end
    local db = redis.sentinel { sentinels = sentinels, master = name, hold_timeout = 20000,
        timeout = 3000 }
    local old = sentinel.status(db).target
    local old_port = tonumber(old:match(":(%d+)$"))
    local old_pid = pid_of(old_port)
    db:set("counter", 0)
    local switched_at
    db.conn.on_switch[#db.conn.on_switch + 1] = function(_, c)
        if t_fault and not switched_at then
            switched_at = skynet.hpc()
            note(format("client: connected to %s, ROLE master", c.target), switched_at)
        end
    end
    -- The lock holder: renewed every 3.3 s; on_lost would say when the failover cost it.
    local lost
    local lease = assert(lock.acquire(db, "demo:lock", { ttl = 10000, renew = true,
        on_lost = function(_, why) lost = why; note("lock: lost (" .. why .. ")") end }))
    -- The writers.
    local acked, failed_unsent, failed_inflight, first_new = 0, 0, 0, nil
    -- The longest time without an acknowledged write, from the last one before the fault on.
    local last_ack, longest_gap = nil, 0
    local errors_seen = {}
    local running, live = true, WRITERS
    for _ = 1, WRITERS do
        skynet.fork(function()
            while running do
                local ok, err = pcall(db.incr, db, "counter")
                if ok then
                    acked = acked + 1
                    local t = skynet.hpc()
                    if t_fault and last_ack and t - last_ack > longest_gap then
                        longest_gap = t - last_ack
                    end
                    last_ack = t
                    if t_fault and not first_new and db.conn.cur and db.conn.cur.target ~= old then
                        first_new = skynet.hpc()
                        note("client: first acknowledged write on the new master", first_new)
                    end
                else
                    if err:find("may or may not have executed", 1, true) then
                        failed_inflight = failed_inflight + 1
                    else
                        failed_unsent = failed_unsent + 1
                    end
                    if not errors_seen[err] then
                        errors_seen[err] = true
                        note("client error: " .. err)
                    end
                end
                skynet.sleep(PACE_CS)
            end
            live = live - 1
        end)
    end
    skynet.sleep(100)
    local before = acked
    local admin = redis.connect { port = sentinel_ports[#sentinel_ports] }
    t_fault = skynet.hpc()
    if scenario == "kill" then
        note("fault: kill -9 of the master " .. old, t_fault)
        signal(old_pid, "KILL")
    elseif scenario == "pause" then
        note("fault: SIGSTOP of the master " .. old, t_fault)
        signal(old_pid, "STOP")
    else
        note("fault: SENTINEL FAILOVER " .. name .. " (master " .. old .. ")", t_fault)
        admin:sentinel("failover", name)
    end
    local deadline = skynet.now() + 3000
    while not first_new and skynet.now() < deadline do skynet.sleep(1) end
    if scenario == "pause" then
        skynet.sleep(100)
        signal(old_pid, "CONT")
        note("the old master resumed (SIGCONT)")
    end
    local mark = acked
    while acked < mark + 300 and skynet.now() < deadline do skynet.sleep(1) end
    -- The client may be on the new master before the sentinels announce it: write on until
    -- they do, so that the reference is measured and the announcement holds nothing.
    while scenario ~= "pause" and not heard["+switch-master"] and skynet.now() < deadline do
        skynet.sleep(1)
    end
    running = false
    while live > 0 do skynet.sleep(1) end
    local new = sentinel.status(db).target
    local final = tonumber(redis.connect { port = tonumber(new:match(":(%d+)$")) }:get("counter"))
    local lost_writes = math.max(0, acked - final)
    local valid = lease:valid()
    local summary = format("%s: %d writes acknowledged (%d before the fault), %d on the new master %s: %d lost%s; failed operations: %d in flight (may or may not have executed), %d not sent; lock %s",
        scenario, acked, before, final, new, lost_writes,
        scenario == "failover" and "" or " (measured: not guaranteed by asynchronous replication)",
        failed_inflight, failed_unsent,
        lost and ("lost: " .. lost) or (valid and "still held" or "expired"))
    skynet.error(summary)
    local switch = heard["+switch-master"]
    local function fig(t) return t and format("%.1f", ms(t)) or "nan" end
    print(format("sentinel.%s first_write_ms=%s ref_switch_ms=%s after_switch_ms=%s longest_gap_ms=%.1f failed_ops=%d unsent_failed=%d acked_lost=%d",
        scenario == "kill" and "kill9" or scenario, fig(first_new), fig(switch),
        (first_new and switch) and format("%.1f", (first_new - switch) / 1e6) or "nan",
        longest_gap / 1e6, failed_inflight + failed_unsent, failed_unsent, lost_writes))
    if lease:valid() then lease:release() end
    local guaranteed = scenario == "failover"
    return (lost_writes == 0 or not guaranteed) and failed_unsent == 0 and first_new ~= nil
end

skynet.start(function()
    local ok, good = xpcall(run, debug.traceback)
    if not ok then skynet.error("sentinel demo failed: " .. tostring(good)) end
    skynet.abort((ok and good) and 0 or 1)
end)
