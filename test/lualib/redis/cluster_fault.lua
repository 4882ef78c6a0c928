-- Shared by the fault scenarios of the Redis Cluster client (test_cluster_fault_*.lua; not a
-- test itself): a steady load of INCRs that remembers every command (which key, when, how long,
-- how it ended) so that a scenario can ask what happened to one shard's commands during one
-- window, and the checks every scenario makes.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"

local format, hpc = string.format, skynet.hpc

local M = {}

-- Milliseconds on the high-resolution clock (skynet.hpc is in nanoseconds).
function M.ms()
    return hpc() / 1e6
end

-- {slot -> port} as the node on `port` sees the map now (CLUSTER SLOTS).
function M.owners(port)
    local c = redis.connect { port = tonumber(port), timeout = 5000 }
    local owners = {}
    for _, s in ipairs(c:command("CLUSTER", "SLOTS")) do
        for slot = s[1], s[2] do owners[slot] = tonumber(s[3][2]) end
    end
    c:disconnect()
    return owners
end

-- The scenarios' starting point: the lab's cluster with every master flushed, and the shard of
-- its `index`th master as the victim. Returns { ctl, masters, owners (slot -> port as the first
-- master sees it), victim (port), on_victim(key), elsewhere(key) }.
function M.shard(index)
    local ctl = lab.lab()
    local masters = ctl:masters()
    for _, p in ipairs(masters) do lab.direct(p):flushall() end
    local owners = M.owners(masters[1])
    local victim = tonumber(masters[index])
    return {
        ctl = ctl,
        masters = masters,
        owners = owners,
        victim = victim,
        on_victim = function(key) return owners[redis.slot(key)] == victim end,
        elsewhere = function(key) return owners[redis.slot(key)] ~= victim end,
    }
end

-- The load: opts.n coroutines (default 50), coroutine j INCRs its own keys
-- "<prefix>:<j>:<k>" (k = 1..opts.per, default 4) in turn, one command at a time, sleeping
-- opts.pace_cs centiseconds after each (default 5: 50 coroutines make ~1 kHz; 0: only a yield,
-- so a command of each coroutine is almost always in flight). Keys spread over every slot
-- range; one coroutine per key, so at most one INCR of a key is ever in flight.
--
-- It records every command: L.key[i] (index into L.keys), L.t0[i] and L.t1[i] (ms, M.ms), and
-- L.err[i] (nil when acknowledged). L.acked / L.unsure count per key the acknowledged INCRs and
-- those whose fate is unknown (failed with "may or may not have executed", or a reply timeout);
-- L.pending[key] is the start (ms) of the key's INCR in progress, nil between two.
-- L.stop() yields until every coroutine has returned.
function M.load(db, opts)
    opts = opts or {}
    local n, per, pace = opts.n or 50, opts.per or 4, opts.pace_cs or 5
    local prefix = opts.prefix or "f"
    local L = { keys = {}, index = {}, key = {}, t0 = {}, t1 = {}, err = {}, acked = {},
        unsure = {}, pending = {}, running = true, live = 0, count = 0 }
    for j = 1, n do
        for k = 1, per do
            local name = format("%s:%d:%d", prefix, j, k)
            L.keys[#L.keys + 1] = name
            L.index[name] = #L.keys
            L.acked[name], L.unsure[name] = 0, 0
        end
    end
    function L.stop()
        L.running = false
        t.wait_until(function() return L.live == 0 end, 6000, "the load's coroutines return")
    end
    for j = 1, n do
        L.live = L.live + 1
        skynet.fork(function()
            local k = 0
            while L.running do
                k = k % per + 1
                local name = format("%s:%d:%d", prefix, j, k)
                local t0 = M.ms()
                L.pending[name] = t0
                local ok, err = pcall(db.incr, db, name)
                L.pending[name] = nil
                local i = L.count + 1
                L.count = i
                L.key[i], L.t0[i], L.t1[i] = L.index[name], t0, M.ms()
                if ok then
                    L.acked[name] = L.acked[name] + 1
                else
                    err = tostring(err)
                    L.err[i] = err
                    local kind = lab.kind(err)
                    if kind == "ambiguous" or kind == "timeout" then
                        L.unsure[name] = L.unsure[name] + 1
                    end
                end
                if pace > 0 then skynet.sleep(pace) else skynet.yield() end
            end
            L.live = L.live - 1
        end)
    end
    return L
end

-- Summary of the commands of L that ended in [from, to] ms (nil: no bound) and whose key
-- satisfies pick(key) (nil: every key): {n, acked, failed, errors = {kind -> n}, samples,
-- failures = {{key, ms, err}...}, max_ms (the longest command), first_ok, last_ok (ms)}.
function M.summary(L, from, to, pick)
    local s = { n = 0, acked = 0, failed = 0, errors = {}, samples = {}, max_ms = 0,
        last_ok = nil, first_ok = nil, failures = {} }
    for i = 1, L.count do
        local t1 = L.t1[i]
        if (not from or t1 >= from) and (not to or t1 <= to) then
            local key = L.keys[L.key[i]]
            if not pick or pick(key) then
                s.n = s.n + 1
                local d = t1 - L.t0[i]
                if d > s.max_ms then s.max_ms = d end
                local err = L.err[i]
                if err then
                    s.failed = s.failed + 1
                    s.failures[#s.failures + 1] = { key = key, ms = d, err = err }
                    local kind = lab.kind(err)
                    s.errors[kind] = (s.errors[kind] or 0) + 1
                    if #s.samples < 5 then s.samples[#s.samples + 1] = err end
                else
                    s.acked = s.acked + 1
                    if not s.first_ok then s.first_ok = t1 end
                    s.last_ok = t1
                end
            end
        end
    end
    return s
end

-- The 99th percentile latency (ms) of the commands of L that ended in [from, to] (nil: no
-- bound), acknowledged or not; 0 when there are none.
function M.p99(L, from, to)
    local list = {}
    for i = 1, L.count do
        local t1 = L.t1[i]
        if (not from or t1 >= from) and (not to or t1 <= to) then
            list[#list + 1] = t1 - L.t0[i]
        end
    end
    if #list == 0 then return 0 end
    table.sort(list)
    return list[math.max(1, math.ceil(#list * 0.99))]
end

-- "ambiguous 2, timeout 1" (or "none").
function M.kinds(errors)
    local list = {}
    for k, v in pairs(errors) do list[#list + 1] = k .. " " .. v end
    table.sort(list)
    return #list > 0 and table.concat(list, ", ") or "none"
end

-- The time (ms) of the first acknowledged INCR after `after` of every key that pick accepts, or
-- nil while one has none yet.
function M.all_acked_after(L, after, pick)
    local seen, want, last = {}, 0, after
    for _, key in ipairs(L.keys) do
        if not pick or pick(key) then want = want + 1 end
    end
    for i = L.count, 1, -1 do
        local t1 = L.t1[i]
        if t1 < after then break end
        local key = L.keys[L.key[i]]
        if not L.err[i] and not seen[key] and (not pick or pick(key)) then
            seen[key] = true
            want = want - 1
            if t1 > last then last = t1 end
        end
    end
    if want > 0 then return nil end
    return last
end

-- Whether every key that pick accepts has a failed command that ended after `after` (ms); false
-- when pick accepts none.
function M.each_failed(L, after, pick)
    local s = M.summary(L, after, nil, pick)
    local seen, want = {}, 0
    for _, f in ipairs(s.failures) do seen[f.key] = true end
    for _, key in ipairs(L.keys) do
        if pick(key) then
            want = want + 1
            if not seen[key] then return false end
        end
    end
    return want > 0
end

-- Reads every key of L back through `reader`: lost = acknowledged INCRs the cluster does not
-- have; extra = INCRs it has beyond those acknowledged and those of unknown fate (an INCR run
-- twice). pick(key), when given, limits the check to the keys it accepts. Yields.
function M.check(L, reader, pick)
    local lost, extra = 0, 0
    for _, key in ipairs(L.keys) do
        local v = (pick and not pick(key)) and L.acked[key] or tonumber(reader:get(key)) or 0
        local acked, unsure = L.acked[key], L.unsure[key]
        if v < acked then lost = lost + acked - v end
        if v > acked + unsure then extra = extra + v - acked - unsure end
    end
    return lost, extra
end

-- Asserts that every command of L was answered or failed within timeout_ms (plus the slack of
-- the client's centisecond clock and of the scheduler); returns the longest, in ms.
function M.within_timeout(L, timeout_ms, what)
    local s = M.summary(L)
    t.ok(s.max_ms <= timeout_ms + 250, format("%s: every command answered within its timeout "
        .. "(%d ms): the longest took %.0f ms", what, timeout_ms, s.max_ms))
    return s.max_ms
end

-- Asserts that the client's slot map was refreshed at most about 30 times a second over the
-- load's life: it is asked for every 100 ms while commands are held, and after redirections
-- (CLUSTERDOWN replies keep coming while the cluster is down), but the requests made while one
-- refresh runs coalesce into one more, so refreshes never pile up.
function M.refreshes_bounded(L, st, what)
    local secs = (L.t1[L.count] - L.t0[1]) / 1000
    local bound = 20 + math.ceil(30 * secs)
    t.ok(st.refreshes <= bound, format("%s: %d map refreshes in %.1f s (at most %d expected)",
        what, st.refreshes, secs, bound))
end

-- A line of figures for the log: "<what>: N acked, M failed (kinds), longest X ms".
function M.report(what, s, extra)
    skynet.error(format("FIGURES %s: %d acknowledged, %d failed (%s), longest command %.0f ms%s",
        what, s.acked, s.failed, M.kinds(s.errors), s.max_ms, extra or ""))
    for _, e in ipairs(s.samples) do skynet.error("  error: " .. e) end
end

return M
