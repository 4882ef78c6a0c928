-- The Lua side of test/integration/lock_process_test.cpp: one role per node process.
--   lock_node mutex <port> <services> <rounds> <mode>   mode: nonfair | fair | nolock
--       Waits until `nodes` (2) processes have checked in (a Redis barrier), then runs
--       `services` contender services; each takes the lock `rounds` times and increments a
--       deliberately non-atomic counter (GET, a pause, SET) under it. Prints
--       "MUTEX <mode> acquisitions=<n>". nolock skips the lock (the control: updates are lost).
--   lock_node holder <port>       takes "stop:lock" (ttl 1500, renewed, fenced), writes through
--       the fence, prints "HOLDER fence=<f>", then waits for on_lost and prints what the lease
--       says afterwards: "HOLDER lost=<why> valid=<bool> write=<reply|err> release=<err>".
--   lock_node contender <port>    takes "stop:lock" (waiting), writes through the fence, prints
--       "CONTENDER fence=<f> write=<reply|err>".
--   lock_node sync <port> <replicas> <sync_timeout>  acquires with min_replicas and prints
--       "SYNC ok" or "SYNC <err>".
-- Each role stops the node with exit code 0, or 1 after logging a failure.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"

local role, port = ...
local args = table.pack(select(3, ...))
port = tonumber(port)

local function out(...)
    -- stdout straight away: the test reads it while the process runs (or is stopped).
    io.stdout:write(table.concat({ ... }, " "), "\n")
    io.stdout:flush()
end

local function contend(db, mode, rounds, counter)
    local n = 0
    local opts = { ttl = 2000, wait = 30000, fair = mode == "fair" }
    for _ = 1, rounds do
        local l
        if mode ~= "nolock" then l = assert(lock.acquire(db, "mutex:lock:" .. mode, opts)) end
        local v = tonumber(db:get(counter)) or 0
        skynet.sleep(0)  -- let every other contender run between the read and the write
        db:set(counter, v + 1)
        if l then
            assert(l:valid(), "the lease outlived the critical section")
            assert(l:release())
        end
        n = n + 1
    end
    return n
end

local roles = {}

function roles.mutex()
    local services, rounds, mode = tonumber(args[1]), tonumber(args[2]), args[3]
    local db = redis.connect { port = port }
    db:incr("mutex:ready:" .. mode)
    while tonumber(db:get("mutex:ready:" .. mode)) < 2 do skynet.sleep(1) end
    local workers = {}
    for i = 1, services do
        workers[i] = skynet.newservice("lock_node", "worker", port, rounds, mode)
    end
    local total, done = 0, 0
    local me = coroutine.running()
    for i = 1, services do
        skynet.fork(function()
            local n = skynet.call(workers[i], "lua", "run")
            total = total + n
            done = done + 1
            if done == services then skynet.wakeup(me) end
        end)
    end
    skynet.wait(me)
    out("MUTEX", mode, "acquisitions=" .. total)
end

function roles.worker()
    local rounds, mode = tonumber(args[1]), args[2]
    local db = redis.connect { port = port }
    skynet.dispatch("lua", function()
        skynet.retpack(contend(db, mode, rounds, "mutex:counter:" .. mode))
    end)
    return true  -- keeps running: answers "run"
end

function roles.holder()
    local db = redis.connect { port = port, timeout = 2000 }
    local lost
    local me = coroutine.running()
    local l = assert(lock.acquire(db, "stop:lock", { ttl = 1500, renew = true, fencing = true,
        on_lost = function(_, why)
            lost = why
            skynet.wakeup(me)
        end }))
    assert(lock.fenced(db, "stop:data", l, "SET", "stop:data", "A1"))
    out("HOLDER fence=" .. l.fence)
    skynet.wait(me)
    local valid = l:valid()
    local w, werr = lock.fenced(db, "stop:data", l, "SET", "stop:data", "A2")
    local _, rerr = l:release()
    out(string.format("HOLDER lost=%s valid=%s write=%s release=%s", lost, tostring(valid),
        tostring(w or werr), tostring(rerr)))
end

function roles.contender()
    local db = redis.connect { port = port }
    local l = assert(lock.acquire(db, "stop:lock", { ttl = 5000, wait = 10000, fencing = true }))
    local w, werr = lock.fenced(db, "stop:data", l, "SET", "stop:data", "B")
    out(string.format("CONTENDER fence=%d write=%s", l.fence, tostring(w or werr)))
    assert(l:release())
end

function roles.sync()
    local db = redis.connect { port = port }
    local l, err = lock.acquire(db, "sync:lock", { ttl = 5000, min_replicas = tonumber(args[1]),
        sync_timeout = tonumber(args[2]) })
    if l then
        out("SYNC ok")
        l:release()
    else
        out("SYNC " .. err .. " exists=" .. db:command("EXISTS", "sync:lock"))
    end
end

skynet.start(function()
    local ok, keep = xpcall(roles[role], debug.traceback)
    if not ok then
        skynet.error("FAIL lock_node " .. role .. ": " .. tostring(keep))
        skynet.abort(1)
    elseif not keep then
        skynet.abort(0)
    end
end)
