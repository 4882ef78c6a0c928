-- The master turned into a replica by REPLICAOF, connections kept: its READONLY replies (also
-- from inside a script, and a MULTI/EXEC it aborted) are topology signals. The commands did
-- not run, so they are held and sent again once a master answers ROLE as one; the caller sees
-- no error. Here the old master is made a master again (the sentinels never notice).
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local redis = require "skynet.db.redis"
local sentinel = require "skynet.db.redis.sentinel"

local router = require "skynet.db.redis.sentinel_router"

t.run(function()
    -- What counts as a topology error.
    local code = router.topology_code
    t.eq(code("READONLY You can't write against a read only replica.", "master"), "READONLY", "plain")
    t.eq(code("READONLY You can't write against a read only replica. script: 4f1, on @user_script:1.",
        "master"), "READONLY", "a script's error (Redis 7)")
    t.eq(code("ERR Error running script (call to f_4f1): @user_script:1: @user_script: 1: -READONLY You can't write against a read only replica.",
        "master"), "READONLY", "a script's error (Redis 6)")
    t.eq(code("LOADING Redis is loading the dataset in memory", "master"), "LOADING", "loading")
    t.eq(code("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "replica"), "MASTERDOWN", "masterdown")
    t.eq(code("NOREPLICAS Not enough good replicas to write.", "master"), "NOREPLICAS", "noreplicas")
    t.eq(code("READONLY You can't write against a read only replica.", "replica"), nil,
        "a write sent to a replica client is the caller's error")
    t.eq(code("ERR value is not an integer or out of range", "master"), nil, "other errors")
    t.eq(code("ERR user text mentions READONLY mode", "master"), nil, "the word alone")

    local db = lab.client { hold_timeout = 15000 }
    local m0 = lab.master_port()
    local r1 = lab.redis_ports[2] == m0 and lab.redis_ports[3] or lab.redis_ports[2]
    local incr = redis.script "return redis.call('INCR', KEYS[1])"
    t.eq(incr(db, 1, "scripted"), 1, "the script runs")
    local w = lab.writer(db, "counter", 4, 1)
    local results = { script = 0, tx = 0, errors = {} }
    local running = true
    local live = 2
    skynet.fork(function()
        while running do
            local ok, v = pcall(incr, db, 1, "scripted")
            if ok then results.script = v else results.errors[#results.errors + 1] = v end
            skynet.sleep(1)
        end
        live = live - 1
    end)
    skynet.fork(function()
        while running do
            local ok, v = pcall(db.transaction, db, function(tx) tx:incr("tx") end)
            if ok then results.tx = v[1] else results.errors[#results.errors + 1] = v end
            skynet.sleep(1)
        end
        live = live - 1
    end)
    t.wait_until(function() return w.acked > 100 and results.tx > 10 end, 500, "writes before")
    local admin = lab.direct(m0)
    admin:replicaof("127.0.0.1", r1)
    local seen = sentinel.status(db).stats.topology_errors
    t.wait_until(function() return sentinel.status(db).stats.topology_errors > seen end, 500,
        "READONLY seen")
    t.eq(sentinel.status(db).state, "down", "nothing is sent to a replica")
    skynet.sleep(30)
    admin:replicaof("no", "one")
    local before, script_before, tx_before = w.acked, results.script, results.tx
    t.wait_until(function()
        return w.acked > before + 50 and results.script > script_before and results.tx > tx_before
    end, 1000, "writes, scripts and transactions on the master again")
    running = false
    w.stop()
    t.wait_until(function() return live == 0 end, 500, "script and transaction loops")
    for _, e in ipairs(w.errors) do skynet.error("writer error: " .. e) end
    for _, e in ipairs(results.errors) do skynet.error("error: " .. e) end
    t.eq(#w.errors + #results.errors, 0, "no error reached the caller")
    local st = sentinel.status(db)
    t.ok(st.stats.retried > 0, "commands were sent again")
    skynet.error(string.format("READONLY: %d topology errors, %d commands sent again",
        st.stats.topology_errors, st.stats.retried))
    db:disconnect()
end, 6000)
