-- The server killed, stopped and restarted under a client: in-flight commands fail saying they
-- may or may not have executed, commands issued while disconnected wait (bounded, with a
-- deadline), AUTH and SELECT are sent again on reconnect, a timed-out reply never reaches the
-- next caller, a command issued as the client closes still goes out. Run under redis_lab
-- (SKYHIVE_TEST_LAB_PORT controls the server).
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local lab_port = assert(tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT"), "SKYHIVE_TEST_LAB_PORT")
local where = "redis 127.0.0.1:" .. port

t.run(function()
    local lab = redis.connect { port = lab_port, timeout = 20000 }
    -- The client logs in as user "tester", who exists after each restart too (the lab starts the
    -- server with the user in its config): ACL WHOAMI shows whether AUTH was sent again.
    local USER = { "user", "tester", "on", ">pw", "~*", "&*", "+@all" }
    local admin = redis.connect { port = port }
    admin:acl("SETUSER", table.unpack(USER, 2))
    admin:disconnect()

    -- db has time to spare (a loaded machine must not turn its waits into timeouts); quick
    -- times out after a second, for the timeout checks.
    local function client(timeout)
        return redis.connect { port = port, username = "tester", auth = "pw", db = 5,
            timeout = timeout, backoff_min = 10, backoff_max = 100 }
    end
    local db = client(10000)
    local quick = client(1000)
    t.eq(db:set("before", 1), "OK", "connected with AUTH and SELECT")

    -- 1. Killed mid-stream: a command the server never answered fails, naming the doubt.
    lab:stop()
    local inflight_err
    skynet.fork(function()
        local ok, err = pcall(db.incr, db, "counter")
        inflight_err = ok and "no error" or err
    end)
    skynet.yield()  -- the INCR has been written to the stopped server
    lab:kill()
    t.wait_until(function() return inflight_err end, 500, "in-flight failure")
    t.eq(inflight_err:find(where .. ": INCR: connection lost", 1, true), 1, inflight_err)
    t.ok(inflight_err:find("the command may or may not have executed", 1, true), inflight_err)

    -- 2. While the server is down commands wait; they run once it is back.
    local waited
    skynet.fork(function() waited = { pcall(db.get, db, "before") } end)
    skynet.sleep(20)
    t.eq(waited, nil, "the command waits for the reconnect")
    lab:start(USER)
    t.wait_until(function() return waited end, 500, "backlog after restart")
    t.ok(waited[1], tostring(waited[2]))
    t.eq(waited[2], nil, "no data survives the kill (save is off)")
    t.eq(db:acl("WHOAMI"), "tester", "AUTH was sent again")
    t.eq(db:set("again", "x"), "OK", "set after the restart")
    local admin2 = redis.connect { port = port, db = 5 }
    t.eq(admin2:get("again"), "x", "SELECT was sent again: the key is in db 5")

    -- 3. Down for longer than the timeout: the waiting command fails, and never went out. The
    -- backlog is bounded.
    local full = redis.connect { port = port, queue_limit = 2, timeout = 2000 }
    lab:kill()
    t.wait_until(function() return quick.conn.state ~= "ready" end, 300, "the drop noticed")
    t.raises({ where .. ": GET: not connected (", "gave up after 1000 ms" }, quick.get, quick, "k")
    -- A pipeline that could never go is refused at once, not after the wait.
    local t0 = skynet.now()
    t.raises({ where .. ": pipeline #2 MULTI: use db:transaction" }, quick.pipeline, quick,
        { { "get", "k" }, { "multi" } })
    t.raises({ where .. ": pipeline #1: a command is a table" }, quick.pipeline, quick, { "get" })
    t.raises({ where .. ": pipeline #2 XREAD: XREAD with BLOCK blocks" }, quick.pipeline, quick,
        { { "get", "k" }, { "xread", "BLOCK", 0, "STREAMS", "s", "$" } })
    t.raises({ where .. ": pipeline #1 GET: argument #1 is a boolean" }, quick.pipeline, quick,
        { { "get", true } })
    t.ok(skynet.now() - t0 < 50, "refused without waiting for the server")
    t.wait_until(function() return full.conn.state ~= "ready" end, 300, "the drop noticed")
    local pending = 0
    for _ = 1, 2 do
        skynet.fork(function() pcall(full.get, full, "k"); pending = pending + 1 end)
    end
    skynet.yield()
    t.raises({ where .. ": GET: not connected", "2 commands are already waiting" }, full.get, full, "k")
    full:disconnect()
    t.wait_until(function() return pending == 2 end, 300, "waiting commands fail on disconnect")

    -- 4. A stalled server: the command times out and the silent connection is dropped; the
    -- client is back once the server runs again.
    lab:start(USER)
    t.wait_until(function() return pcall(quick.ping, quick) end, 1000, "reconnected")
    quick:set("a", "A")
    quick:set("b", "B")
    lab:stop()
    t.raises({ where .. ": GET: no reply within 1000 ms; the command may or may not have executed" },
        quick.get, quick, "a")
    lab:cont()
    t.eq(quick:get("b"), "B", "the late reply to GET a was not given to GET b")
    t.eq(quick:get("a"), "A", "and the stream is in step")

    -- 5. A command issued in the tick its client is closed in still goes out before the FIN;
    -- its caller hears that the client was closed. A closed client fails every later call.
    local closing = redis.connect { port = port }
    local set_at_close
    skynet.fork(function() set_at_close = { pcall(closing.set, closing, "set_at_close", "x") } end)
    skynet.fork(function() closing:disconnect() end)
    t.wait_until(function() return set_at_close end, 300, "the SET's caller")
    t.eq(set_at_close[1], false, "the SET raised")
    t.ok(set_at_close[2]:find(where .. ": SET: the client was closed; the command may or may not "
        .. "have executed", 1, true), set_at_close[2])
    local other = redis.connect { port = port }
    t.wait_until(function() return other:get("set_at_close") == "x" end, 300,
        "the SET reached the server")
    other:disconnect()
    admin2:disconnect()
    quick:disconnect()
    db:disconnect()
    t.raises({ where .. ": SET: the client was closed" }, db.set, db, "x", 1)
    lab:disconnect()
end)
