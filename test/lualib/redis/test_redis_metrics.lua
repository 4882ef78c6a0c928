-- The Redis client's metrics against a real server (run under redis_lab): after a known number
-- of commands, error replies, a pipeline, commands lost with the connection, a timeout and a
-- reconnect, skyhive_redis_* show exactly those, under the client's name and role; in flight
-- counts what was written and not answered.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"
local m = require "metrics_lib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local lab_port = assert(tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT"), "SKYHIVE_TEST_LAB_PORT")

local function labels(client, kind)
    return { client = client, role = "standalone", kind = kind }
end

t.run(function()
    local lab = redis.connect { port = lab_port, timeout = 20000 }
    local L = { client = "instr", role = "standalone" }
    local db = redis.connect { port = port, name = "instr", timeout = 10000, backoff_min = 10,
        backoff_max = 50 }
    -- The handshake: CLIENT SETNAME, one command and one request.
    t.eq(m.value("skyhive_redis_commands_total", L), 1, "the handshake's command")
    t.eq((m.count("skyhive_redis_command_duration_seconds", L)), 1, "the handshake timed")

    -- 10 commands, 3 error replies, a pipeline of 4 with one error.
    for i = 1, 10 do db:set("k" .. i, i) end
    for _ = 1, 3 do t.raises({ "WRONGTYPE" }, db.lpush, db, "k1", "x") end
    local res = db:pipeline({ { "incr", "n" }, { "lpush", "k2", "x" }, { "incr", "n" },
        { "get", "n" } }, {})
    t.eq(res[2].ok, false, "the pipeline's error")
    t.eq(m.value("skyhive_redis_commands_total", L), 1 + 10 + 3 + 4, "commands written")
    t.eq(m.value("skyhive_redis_errors_total", labels("instr", "reply")), 3 + 1, "error replies")
    local n, sum = m.count("skyhive_redis_command_duration_seconds", L)
    t.eq(n, 1 + 10 + 3 + 1, "one observation per request (the pipeline once)")
    t.ok(sum > 0 and sum < n, "durations in seconds: " .. sum)
    t.eq(m.bucket("skyhive_redis_command_duration_seconds", L, 1), n, "all under a second")
    t.eq(m.value("skyhive_redis_in_flight", L), 0, "nothing in flight")

    -- A stopped server: 5 commands written and not answered are in flight; killed, they fail
    -- as connection errors and leave the gauge.
    lab:stop()
    local failed = 0
    for _ = 1, 5 do
        skynet.fork(function()
            if not pcall(db.get, db, "k1") then failed = failed + 1 end
        end)
    end
    skynet.yield() -- the forks issue, the flusher writes
    t.wait_until(function() return m.value("skyhive_redis_in_flight", L) == 5 end, 300,
        "5 in flight")
    lab:kill()
    t.wait_until(function() return failed == 5 end, 500, "the in-flight commands fail")
    t.eq(m.value("skyhive_redis_in_flight", L), 0, "in flight after the drop")
    t.eq(m.value("skyhive_redis_errors_total", labels("instr", "connection")), 5,
        "connection errors")
    t.eq(m.value("skyhive_redis_reconnects_total", L), 0, "no reconnect yet")

    -- Back: one reconnect (its handshake counts as a command too).
    lab:start()
    t.wait_until(function() return db.conn.state == "ready" end, 500, "reconnected")
    t.eq(m.value("skyhive_redis_reconnects_total", L), 1, "one reconnect")
    local before = m.value("skyhive_redis_commands_total", L)
    t.eq(db:ping(), "PONG", "after the reconnect")
    t.eq(m.value("skyhive_redis_commands_total", L), before + 1, "one more command")

    -- A timeout: a stalled server answers nothing within 300 ms.
    local quick = redis.connect { port = port, name = "instr-quick", timeout = 300 }
    local Q = { client = "instr-quick", role = "standalone" }
    lab:stop()
    t.raises({ "GET: no reply within 300 ms" }, quick.get, quick, "k")
    t.eq(m.value("skyhive_redis_errors_total", labels("instr-quick", "timeout")), 1, "a timeout")
    lab:cont()
    t.wait_until(function() return m.value("skyhive_redis_in_flight", Q) == 0 end, 500,
        "the dropped connection leaves nothing in flight")

    -- Without a name the client is its server's address.
    local anon = redis.connect { port = port }
    anon:ping()
    t.eq(m.value("skyhive_redis_commands_total",
        { client = "127.0.0.1:" .. port, role = "standalone" }), 1, "named by host:port")
    anon:disconnect()
    quick:disconnect()
    db:disconnect()
    local clean, complaints = m.promtool()
    t.ok(clean, "promtool check metrics: " .. complaints)
end)
