-- skynet.db.redis against a real redis-server, function by function as skynet's driver defines
-- it: connect (host, port, auth, db), commands by name (a table as the argument list), exists and
-- sismember as booleans, pipeline's two shapes, disconnect, and the watch object (subscribe,
-- psubscribe, message, unsubscribe, punsubscribe, disconnect). Also the "raw" reply option and
-- db:wait's placement (the replica cases are in test_redis_wait.lua).
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local where = "redis 127.0.0.1:" .. port

t.run(function()
    -- connect: host, port, db (SELECT in the handshake), as skynet's.
    local db = redis.connect { host = "127.0.0.1", port = port, db = 6 }
    db:flushdb()
    t.eq(db:client("INFO"):match("db=(%d+)"), "6", "db selected")

    -- Commands by name, in either case; a table as the only argument is the argument list.
    t.eq(db:set("k", "v"), "OK", "set")
    t.eq(db:GET("k"), "v", "upper-case name")
    t.eq(db:mset({ "a", 1, "b", 2 }), "OK", "table as the argument list")
    t.eq(db:get("b"), "2", "number argument written as text")
    t.eq(db:incr("a"), 2, "integer reply")

    -- exists and sismember: booleans, as skynet's driver converts them.
    t.eq(db:exists("k"), true, "exists -> true")
    t.eq(db:exists("missing"), false, "exists -> false")
    t.eq(db:exists({ "missing", "k" }), true, "exists of a key list: any of them")
    db:sadd("s", "m")
    t.eq(db:sismember("s", "m"), true, "sismember -> true")
    t.eq(db:sismember("s", "x"), false, "sismember -> false")
    -- Every other integer reply stays an integer (skynet converts no other command), also for
    -- the upper-case name and db:command.
    t.eq(db:EXISTS("k"), 1, "db:EXISTS is the plain command")
    t.eq(db:command("exists", "k"), 1, "db:command is the plain command")
    t.eq(db:exists("k"), true, "db:command did not replace db:exists")
    t.eq(db:hexists("h", "f"), 0, "HEXISTS is not converted")
    t.eq(db:setnx("k", "w"), 0, "SETNX is not converted")
    t.eq(db:expire("k", 100), 1, "EXPIRE is not converted")

    -- pipeline without a result table: the last command's reply.
    t.eq(db:pipeline({ { "set", "p", 1 }, { "incr", "p" }, { "incr", "p" } }), 3, "last reply")
    t.eq(db:pipeline({ { "get", "p" } }), "3", "one command")
    t.eq(db:pipeline({ { "del", "p" }, { "get", "p" } }), nil, "a nil last reply")
    local l = db:pipeline({ { "rpush", "pl", "x", "y" }, { "lrange", "pl", 0, -1 } })
    t.eq(l[1] .. l[2], "xy", "an array last reply")
    -- An error of an earlier command is not looked at; the last one's raises.
    t.eq(db:pipeline({ { "lpush", "k", "x" }, { "get", "k" } }), "v", "earlier error ignored")
    t.raises({ where .. ": pipeline #2 LPUSH: WRONGTYPE" }, db.pipeline, db,
        { { "get", "k" }, { "lpush", "k", "x" } })
    t.raises({ where .. ": pipeline: no commands" }, db.pipeline, db, {})
    t.raises({ where .. ": pipeline: ops is a nil" }, db.pipeline, db, nil, {})

    -- pipeline with a result table: {ok, out} appended per command, out Redis's error text.
    local resp = { "kept" }
    local r = db:pipeline({ { "set", "q", 1 }, { "lpush", "q", "x" }, { "incr", "q" } }, resp)
    t.eq(r, resp, "returns the result table")
    t.eq(#resp, 4, "entries appended after what the table held")
    t.eq(resp[1], "kept", "the old entry stays")
    t.ok(resp[2].ok == true and resp[2].out == "OK", "#1 ok")
    t.eq(resp[3].ok, false, "#2 failed")
    t.eq(resp[3].out:sub(1, 9), "WRONGTYPE", "#2 out is Redis's text: " .. resp[3].out)
    t.ok(resp[4].ok == true and resp[4].out == 2, "#3 ran after the error")

    -- replies = "raw": Redis's integers and skyhive's pipeline shapes; a bad value is refused.
    local raw = redis.connect { port = port, db = 6, replies = "raw" }
    t.eq(raw:exists("k"), 1, "raw exists")
    t.eq(raw:sismember("s", "m"), 1, "raw sismember")
    local vals = raw:pipeline({ { "get", "k" }, { "get", "q" } })
    t.ok(vals.n == 2 and vals[1] == "v" and vals[2] == "2", "raw pipeline: all values")
    t.eq(raw:pipeline({}).n, 0, "raw empty pipeline")
    t.raises({ 'redis: opts.replies is "skynet2" ("skynet" or "raw" expected)' }, redis.connect,
        { port = port, replies = "skynet2" })
    raw:disconnect()

    -- WAIT goes on the shared connection behind this client's writes; with no replica it answers
    -- 0 after its timeout. A timeout of 0 would hold the shared connection forever: refused.
    local t0 = skynet.now()
    t.eq(db:pipeline({ { "set", "w", 1 }, { "wait", 1, 100 } }), 0, "WAIT in a pipeline")
    t.eq(db:wait(0, 100), 0, "db:wait")
    t.ok(db:wait(1, 100) == 0 and skynet.now() - t0 >= 18, "waited its timeouts")
    t.raises({ where .. ": WAIT: the timeout (last argument, ms) must be a positive integer, got 0" },
        db.wait, db, 1, 0)
    t.raises({ where .. ": WAITAOF: the timeout" }, db.waitaof, db, 0, 1, 0)
    t.eq(#db.pool.idle + db.pool.count, 0, "no pooled connection was used")
    -- Refused when the caller's writes did not go on the current connection: a coroutine that
    -- sent nothing, or a connection made again since its last reply.
    local refused = "WAIT: this coroutine has had no reply on the client's current connection"
    local other_err
    skynet.fork(function() other_err = select(2, pcall(db.wait, db, 0, 100)) end)
    t.wait_until(function() return other_err ~= nil end, 100, "a coroutine that sent nothing")
    t.ok(other_err:find(where .. ": " .. refused, 1, true), other_err)
    local admin = redis.connect { port = port }
    local gen = db.conn.gen
    admin:client("KILL", "ID", db:client("ID"))
    t.wait_until(function() return db.conn.gen > gen end, 300, "the client connected again")
    t.raises({ where .. ": " .. refused }, db.wait, db, 0, 100)
    t.eq(db:set("w", 2), "OK", "a write on the new connection")
    t.eq(db:wait(0, 100), 0, "then WAIT covers it")
    admin:disconnect()

    -- watch: subscribe/psubscribe wait for the server; message returns (data, channel) and
    -- (data, channel, pattern) as skynet's.
    local w = redis.watch { port = port, db = 6 }
    w:subscribe("c1", "c2")
    w:psubscribe("p.*")
    t.eq(db:publish("c2", "hello"), 1, "one subscriber")
    local data, channel, pattern = w:message()
    t.ok(data == "hello" and channel == "c2" and pattern == nil, "message: data, channel")
    db:publish("p.x", "pat")
    data, channel, pattern = w:message()
    t.ok(data == "pat" and channel == "p.x" and pattern == "p.*", "pmessage: data, channel, pattern")
    w:unsubscribe("c2")
    w:punsubscribe("p.*")
    -- As in skynet, unsubscribe and punsubscribe do not wait for the server.
    t.wait_until(function() return db:pubsub("NUMSUB", "c2")[2] == 0 and db:pubsub("NUMPAT") == 0 end,
        300, "unsubscribed")
    t.eq(db:publish("c2", "x") + db:publish("p.y", "x"), 0, "no subscriber left for c2, p.*")
    t.eq(db:publish("c1", "still"), 1, "c1 kept")
    t.eq(w:message(), "still", "c1 message")
    w:disconnect()

    -- disconnect: later commands raise.
    db:disconnect()
    t.raises({ where .. ": GET:" }, db.get, db, "k")
end)
