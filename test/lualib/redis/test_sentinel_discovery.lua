-- Discovery: the first sentinel of the list dead at start-up; an unknown master name, a wrong
-- sentinel password and no reachable sentinel give clear errors while the client keeps trying;
-- replica reads; pub/sub through the sentinels; a db.retry pipeline that timed out on a working
-- connection.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local redis = require "skynet.db.redis"
local sentinel = require "skynet.db.redis.sentinel"

t.run(function()
    local s1 = lab.sentinel_ports[1]
    lab.lab():kill(s1)
    local t0 = skynet.now()
    local db = lab.client()
    t.eq(sentinel.status(db).state, "ready", "connected with the first sentinel dead")
    t.ok(skynet.now() - t0 < 100, "without waiting on the dead sentinel: " .. (skynet.now() - t0) .. " cs")
    t.eq(db:set("k", "v"), "OK", "set")
    t.eq(db:pipeline():set("built", 1):incr("built"):execute(), 2, "a built pipeline")
    t.eq(sentinel.status(db).target, "127.0.0.1:" .. lab.master_port(), "on the master")

    -- Unknown master name: every sentinel says so, and a command fails naming the cause.
    local unknown = lab.client { master = "nosuch", hold_timeout = 300 }
    t.eq(sentinel.status(unknown).state, "down", "no master for an unknown name")
    t.raises({ "GET: no master available", "unknown master name 'nosuch'", "not sent" },
        unknown.get, unknown, "k")
    t.raises({ "pipeline: no master available", "unknown master name 'nosuch'" },
        function() return unknown:pipeline():get("k"):get("k"):execute() end)
    unknown:disconnect()

    -- A wrong sentinel password, then the right one.
    local others = { lab.sentinels[2], lab.sentinels[3] }
    for i = 2, 3 do
        lab.direct(lab.sentinel_ports[i]):acl("SETUSER", "app", "on", ">apppw", "+@all", "&*")
    end
    local wrong = lab.client { sentinels = others, sentinel_username = "app",
        sentinel_auth = "nope", hold_timeout = 300 }
    t.raises({ "no master available", "sentinel " .. others[1] .. ": AUTH: WRONGPASS" },
        wrong.get, wrong, "k")
    wrong:disconnect()
    local right = lab.client { sentinels = others, sentinel_username = "app", sentinel_auth = "apppw" }
    t.eq(right:get("k"), "v", "the right sentinel password")
    right:disconnect()

    -- No sentinel reachable: a clear error; the node runs on.
    local none = lab.client { sentinels = { "127.0.0.1:" .. s1 }, hold_timeout = 300 }
    t.raises({ "no master available", "sentinel 127.0.0.1:" .. s1 .. ": connect: Connection refused" },
        none.get, none, "k")
    none:disconnect()

    -- Replica reads: a ROLE-checked replica in sync.
    local rdb = lab.client { role = "replica" }
    local st = sentinel.status(rdb)
    t.eq(st.state, "ready", "connected to a replica")
    t.ok(st.target ~= "127.0.0.1:" .. lab.master_port(), "not the master")
    t.eq(rdb:role()[1], "slave", "ROLE")
    t.wait_until(function() return rdb:get("k") == "v" end, 300, "the write replicated")
    rdb:disconnect()

    -- Pub/sub through the sentinels.
    local w = redis.watch { sentinels = lab.sentinels, master = lab.name }
    w:subscribe("news")
    db:publish("news", "hello")
    t.eq(w:message(), "hello", "message")
    w:disconnect()

    -- db.retry: a pipeline marked safe that times out on the connection still in use fails as
    -- any other would (its place stays in the reply order), and the connection keeps answering
    -- in order. Its WAIT keeps it from being answered within the timeout; the WAIT sent ahead
    -- of it answers meanwhile, so the connection is not taken for stalled and stays. The GET
    -- behind it times out too, and its late reply comes with the pipeline's.
    local quick = lab.client { timeout = 250 }
    t.eq(quick:mset("pa", "A", "pb", "B"), "OK", "mset")
    local switches = sentinel.status(quick).stats.switches
    local res = {}
    skynet.fork(function()
        res.ahead = { pcall(quick.pipeline, quick, { { "wait", 10, 100 } }) }
    end)
    skynet.fork(function()
        res.safe = { pcall(quick.retry.pipeline, quick.retry,
            { { "wait", 10, 400 }, { "get", "pa" } }) }
    end)
    skynet.fork(function() res.behind = { pcall(quick.get, quick, "pa") } end)
    t.wait_until(function() return res.safe end, 300, "the safe pipeline")
    skynet.sleep(40)  -- its late replies arrive and are dropped
    t.eq(select(2, pcall(quick.get, quick, "pb")), "B", "the next command gets its own reply")
    t.eq(quick.retry:pipeline({ { "get", "pa" }, { "get", "pb" } }, {})[2].out, "B",
        "a later safe pipeline")
    t.eq(sentinel.status(quick).stats.switches, switches, "on the same connection")
    t.ok(res.ahead[1], tostring(res.ahead[2]))
    t.eq(res.safe[1], false, "the safe pipeline timed out")
    t.eq(res.behind[1], false, "the GET behind it timed out")
    t.ok(res.safe[2]:find("pipeline: no reply within 250 ms; the command may or may not have "
        .. "executed", 1, true), res.safe[2])
    quick:disconnect()
    db:disconnect()
end, 6000)
