-- skynet.db.redis against a real redis-server: reply mapping, binary safety, a 64 MB value,
-- server errors, pipelines, transactions, scripts, blocking commands, argument errors, the
-- commands refused on the shared connection.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local where = "redis 127.0.0.1:" .. port

t.run(function()
    -- The raw reply mode (replies = "raw"): Redis's integers, skyhive's pipeline shapes. The
    -- default, skynet's shapes, is tested in test_redis_skynet.lua.
    local db = redis.connect { host = "127.0.0.1", port = port, db = 1, name = "basic",
        replies = "raw", timeout = math.ceil(5000 * t.slowdown) }
    t.eq(db:flushdb(), "OK", "status reply -> string")
    t.eq(db:client("GETNAME"), "basic", "CLIENT SETNAME sent in the handshake")
    t.eq(db:command("CLIENT", "GETNAME"), "basic", "db:command")

    -- Every reply type.
    t.eq(db:set("k", "v"), "OK", "status")
    t.eq(db:get("k"), "v", "bulk")
    t.eq(db:incr("n"), 1, "integer")
    t.eq(math.type(db:incrby("n", 41)), "integer", "integer stays an integer")
    t.eq(db:get("missing"), nil, "null bulk -> nil")
    t.eq(db:exists("k", "missing"), 1, "integer count")
    db:rpush("list", "a", "", "c")
    local l = db:lrange("list", 0, -1)
    t.ok(t.same(l, { "a", "", "c", n = 3 }), "array with n")
    local m = db:mget("k", "missing", "n")
    t.eq(m.n, 3, "array with a hole keeps its count")
    t.eq(m[1], "v", "mget 1")
    t.eq(m[2], nil, "mget hole")
    t.eq(m[3], "42", "mget 3")
    local nested = db:eval("return {1, {2, {'x'}}, 'y'}", 0)
    t.eq(nested[2][2][1], "x", "nested arrays")
    t.eq(nested[3], "y", "after a nested array")
    local empty = db:lrange("nothing", 0, -1)
    t.eq(empty.n, 0, "empty array")
    t.eq(db:eval("return nil", 0), nil, "script nil")
    t.eq(db:eval("return redis.status_reply('FINE')", 0), "FINE", "status from a script")
    t.eq(db:set("f", 2.5), "OK", "float argument")
    t.eq(db:get("f"), "2.5", "float encoded shortest")
    t.eq(db:incrbyfloat("f", 0.5), "3", "float reply is a bulk string")

    -- Binary safety: every byte value, embedded zeros, CR LF inside.
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local bin = table.concat(bytes) .. "\0\r\n\0" .. table.concat(bytes)
    db:set("bin\0key", bin)
    t.eq(db:get("bin\0key"), bin, "binary value under a binary key")
    t.eq(db:strlen("bin\0key"), #bin, "length seen by the server")
    db:hset("h", "\0f", "\0v\0")
    local all = db:hgetall("h")
    t.eq(all[1], "\0f", "hgetall field")
    t.eq(all[2], "\0v\0", "hgetall value")

    -- A 64 MB value both ways, and a command issued behind it gets its own reply.
    local big = string.rep("0123456789abcdef", 4 << 20)
    t.eq(#big, 64 << 20, "64 MB")
    skynet.yield()  -- a message each for building, sending and checking (sanitizer builds are slow)
    local after
    skynet.fork(function() after = db:get("k") end)
    t.eq(db:set("big", big), "OK", "SET 64 MB")
    local back = db:get("big")
    t.eq(#back, #big, "GET 64 MB length")
    t.ok(back == big, "GET 64 MB content")
    back, big = nil, nil
    t.eq(after, "v", "the command behind the big one")
    db:del("big")

    -- Server errors raise with the server, the command and Redis's text, no file:line.
    local e = t.raises({ where .. ": GET: WRONGTYPE Operation against a key holding the wrong kind of value" },
        db.get, db, "list")
    t.ok(not e:find("%.lua:%d"), "no file:line in " .. e)
    t.raises({ where .. ": NOSUCHCMD: ERR unknown command" }, db.nosuchcmd, db, "x")
    t.raises({ where .. ": SET: ERR wrong number of arguments" }, db.set, db, "only-key")
    t.raises({ where .. ": SET: argument #2 is a boolean (string or number expected)" }, db.set, db, "k", true)
    t.eq(db:get("k"), "v", "the connection is fine after errors")

    -- Pipelines: per-command results and errors, in order.
    local results = {}
    local r = db:pipeline({
        { "set", "p", 1 },
        { "incr", "p" },
        { "lpush", "p", "x" },   -- WRONGTYPE in the middle
        { "incr", "p" },
        { "get", "p" },
    }, results)
    t.eq(r, results, "pipeline returns the results table")
    t.eq(#results, 5, "one result per command")
    t.ok(results[1].ok and results[1].out == "OK", "pipeline 1")
    t.ok(results[2].ok and results[2].out == 2, "pipeline 2")
    t.ok(not results[3].ok, "pipeline 3 failed")
    t.ok(results[3].out:find(where .. ": pipeline #3 LPUSH: WRONGTYPE", 1, true), results[3].out)
    t.ok(results[4].ok and results[4].out == 3, "the batch went on after the error")
    t.ok(results[5].ok and results[5].out == "3", "pipeline 5")
    local values = db:pipeline { { "set", "q", "a" }, { "get", "q" } }
    t.eq(values[2], "a", "pipeline without results returns the values")
    t.raises({ where .. ": pipeline #2 INCR: ERR value is not an integer" }, db.pipeline, db,
        { { "set", "q", "a" }, { "incr", "q" }, { "get", "q" } })
    t.raises({ where .. ": pipeline #2 GET: argument #1 is a boolean" }, db.pipeline, db, { { "set", "q", "a" }, { "get", false } })
    t.eq(db:get("q"), "a", "a rejected pipeline sends nothing")
    -- Commands that would break the connection's reply order, and commands that are not
    -- {name, args...}, are refused whole, naming the position; nothing of the pipeline is sent.
    t.raises({ where .. ": pipeline #2 MULTI: use db:transaction" }, db.pipeline, db,
        { { "set", "q", "b" }, { "multi" }, { "set", "q", "c" } })
    t.raises({ where .. ": pipeline #3 SUBSCRIBE: use redis.watch" }, db.pipeline, db,
        { { "set", "q", "b" }, { "get", "q" }, { "SubScribe", "ch" } })
    t.raises({ where .. ": pipeline #2: a command is a table {name, args...}" }, db.pipeline, db,
        { { "set", "q", "b" }, "get q" })
    t.raises({ where .. ": pipeline #1: a command is a table {name, args...}" }, db.pipeline, db,
        { { false, "q" }, { "set", "q", "b" } })
    t.raises({ where .. ": pipeline #1: a command is a table {name, args...}" }, db.pipeline, db,
        { "set", "q", "b" })
    -- Also those that take replies away or add some (CLIENT REPLY, UNSUBSCRIBE: one per
    -- channel), change the connection for every coroutine (SELECT), or block it (a lone
    -- blocking command runs on the pool; WAIT goes with a timeout that ends). Some only with
    -- some arguments, also spliced from a list.
    t.raises({ where .. ": pipeline #2 UNSUBSCRIBE: use redis.watch",
        "answers once per channel" }, db.pipeline, db,
        { { "set", "q", "b" }, { "unsubscribe", "c1", "c2" } })
    t.raises({ where .. ": pipeline #2 CLIENT: REPLY OFF and SKIP take replies away" },
        db.pipeline, db,
        { { "set", "q", "b" }, { "client", "reply", "skip" }, { "set", "q", "c" } })
    t.raises({ where .. ": pipeline #1 SELECT: use the db option of redis.connect" }, db.pipeline,
        db, { { "select", 2 }, { "set", "q", "b" } })
    t.raises({ where .. ": pipeline #2 BLPOP: BLPOP blocks the connection every coroutine",
        "db:blpop(...) runs it on a connection of the blocking pool" }, db.pipeline, db,
        { { "set", "q", "b" }, { "blpop", "queue", 0 } })
    t.raises({ where .. ": pipeline #2 XREAD: XREAD with BLOCK blocks" }, db.pipeline, db,
        { { "set", "q", "b" }, { "xread", "BLOCK", 0, "STREAMS", "s", "$" } })
    t.raises({ where .. ": pipeline #1 XREADGROUP: XREADGROUP with BLOCK blocks" }, db.pipeline,
        db, { { "xreadgroup", { "GROUP", "g", "c", "block", 10 }, "STREAMS", "s", ">" } })
    t.raises({ where .. ": pipeline #2 WAIT: the timeout (last argument, ms) must be a positive" },
        db.pipeline, db, { { "set", "q", "b" }, { "wait", 1, 0 } })
    t.raises({ where .. ": pipeline #1 GET: argument #1 is a boolean" }, db.pipeline, db,
        { { "get", false }, { "xread", "BLOCK", 0, "STREAMS", "s", "$" } })
    t.raises({ where .. ": pipeline #2 GET: argument #1 is a boolean" }, db.pipeline, db,
        { { "client", "getname" }, { "get", false } })
    t.eq(db:get("q"), "a", "the refused pipelines sent nothing")
    local allowed = db:pipeline { { "client", "getname" }, { "xread", "COUNT", 1, "STREAMS",
        "nostream", "0" }, { "wait", 0, 10 }, { "get", "q" } }
    t.ok(allowed.n == 4 and allowed[1] == "basic" and allowed[2] == nil and allowed[3] == 0 and
        allowed[4] == "a", "CLIENT GETNAME, XREAD without BLOCK and a WAIT that ends go")
    t.eq(#db:pipeline({}), 0, "empty pipeline")
    -- A rejected pipeline behind a command already encoded in the same tick takes only its own
    -- bytes back out of the buffer: the other command is sent and answered.
    local kept, rejected, done = nil, nil, 0
    local me = coroutine.running()
    skynet.fork(function()
        kept = db:set("q2", "kept")
        done = done + 1
        if done == 2 then skynet.wakeup(me) end
    end)
    skynet.fork(function()
        rejected = select(2, pcall(db.pipeline, db, { { "set", "q3", "x" }, { "rpush", "q3", { "a", {} } } }))
        done = done + 1
        if done == 2 then skynet.wakeup(me) end
    end)
    skynet.wait(me)
    t.eq(kept, "OK", "the command encoded before the rejected pipeline")
    t.ok(tostring(rejected):find(where .. ": pipeline #2 RPUSH: argument #2[2] is a table", 1, true),
        tostring(rejected))
    t.eq(db:exists("q3"), 0, "nothing of the rejected pipeline was sent")
    -- Tables are spliced and numbers written as Redis reads them, as for single commands.
    local spliced = db:pipeline { { "del", "l" }, { "rpush", "l", { "a", 2, 0.5 } }, { "lrange", "l", 0, -1 } }
    t.eq(table.concat(spliced[3], ","), "a,2,0.5", "spliced pipeline arguments")

    -- MULTI/EXEC: other coroutines' commands cannot fall inside the transaction.
    db:set("tx", 0)
    local done = 0
    for i = 1, 20 do
        skynet.fork(function()
            db:set("tx", "other" .. i)
            done = done + 1
        end)
    end
    local ex = db:transaction(function(tx)
        tx:set("tx", 100)
        tx:incr("tx")
        tx:incr("tx")
        tx:command("GET", "tx")
    end)
    t.eq(ex[4], "102", "no foreign SET inside MULTI/EXEC")
    t.wait_until(function() return done == 20 end, 500, "forked SETs")
    t.raises({ where .. ": MULTI/EXEC: EXECABORT", "#2 SET: ERR wrong number of arguments" },
        db.transaction, db, function(tx) tx:incr("tx2"); tx:set("tx2") end)
    t.eq(db:get("tx2"), nil, "an aborted transaction executed nothing")
    local txr = {}
    db:transaction(function(tx) tx:set("tx3", "a"); tx:incr("tx3"); tx:get("tx3") end, txr)
    t.ok(txr[1].ok and not txr[2].ok and txr[3].out == "a", "runtime error inside EXEC reported per command")
    t.raises({ where .. ": MULTI: use db:transaction" }, db.multi, db)
    t.raises({ "use redis.watch" }, db.subscribe, db, "ch")
    -- Commands that would shift the reply order (UNSUBSCRIBE answers once per channel, CLIENT
    -- REPLY takes replies away) or change the connection of every coroutine until a reconnect
    -- undoes it (SELECT, RESET) raise, naming what to use, and send nothing.
    t.raises({ where .. ": UNSUBSCRIBE: use redis.watch", "once per channel" }, db.unsubscribe,
        db, "c1", "c2")
    t.raises({ where .. ": PUNSUBSCRIBE: use redis.watch", "once per pattern" },
        db.punsubscribe, db)
    t.raises({ where .. ": SUNSUBSCRIBE: use redis.watch" }, db.sunsubscribe, db, "c1")
    t.raises({ where .. ": CLIENT: REPLY OFF and SKIP take replies away" }, db.client, db,
        "reply", "skip")
    t.raises({ where .. ": CLIENT: REPLY OFF and SKIP" }, db.command, db, "CLIENT",
        { "Reply", "OFF" })
    t.raises({ where .. ": SELECT: use the db option of redis.connect" }, db.select, db, 2)
    t.raises({ where .. ": RESET: use the options of redis.connect" }, db.reset, db)
    t.eq(db:client("GETNAME"), "basic", "other CLIENT subcommands go")
    t.eq(db:get("tx3"), "a", "still database 1, every reply to its caller")
    t.raises({ where .. ": MULTI/EXEC #2 CLIENT: REPLY OFF and SKIP" }, db.transaction, db,
        function(tx) tx:get("tx3"); tx:client("reply", "off") end)
    t.raises({ where .. ": MULTI/EXEC #1 SELECT: use the db option" }, db.transaction, db,
        function(tx) tx:select(2) end)
    -- Redis does not block inside MULTI: a transaction may carry a blocking command.
    local popped_tx = db:transaction(function(tx) tx:rpush("txq", "j"); tx:blpop("txq", 0) end)
    t.eq(popped_tx[2][2], "j", "BLPOP inside a transaction")

    -- Scripts: EVAL, EVALSHA, and the loader that falls back on NOSCRIPT.
    t.eq(db:eval("return ARGV[1] .. KEYS[1]", 1, "k", "a"), "ak", "eval")
    local src = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
    local s = redis.script(src)
    t.eq(#s.sha, 40, "sha computed locally")
    t.eq(db:script("LOAD", src), s.sha, "local sha is the server's")
    db:script("FLUSH")
    t.raises({ where .. ": EVALSHA: NOSCRIPT" }, db.evalsha, db, s.sha, 1, "sc", 1)
    t.eq(s(db, 1, "sc", 5), 5, "NOSCRIPT fallback to EVAL")
    t.eq(db:script("EXISTS", s.sha)[1], 1, "EVAL loaded it")
    t.eq(s:call(db, 1, "sc", 5), 10, "EVALSHA afterwards")
    db:script("FLUSH")
    t.eq(s(db, 1, "sc", 1), 11, "fallback again after SCRIPT FLUSH")
    t.raises({ where .. ": EVAL" }, redis.script("return redis.call('NOPE')"), db, 0)

    -- Blocking commands run on their own connections: the shared one keeps going.
    local popped
    skynet.fork(function() popped = db:blpop("queue", 5) end)
    skynet.fork(function() popped = popped end)
    for i = 1, 50 do t.eq(db:incr("busy"), i, "commands while BLPOP waits") end
    t.eq(popped, nil, "BLPOP still waiting")
    db:rpush("queue", "job")
    t.wait_until(function() return popped ~= nil end, 300, "BLPOP")
    t.eq(popped[2], "job", "BLPOP result")
    t.eq(db:blpop("queue", 0.05), nil, "BLPOP timeout -> nil")
    local x = db:xread("COUNT", 1, "STREAMS", "nostream", "0")
    t.eq(x, nil, "XREAD without BLOCK on the shared connection")

    -- A pool of one: the second blocking command waits for the connection; closing the client
    -- wakes it with an error, and fails the one in flight, whose connection is closed, which
    -- ends it on the server too.
    local function blocked()
        return tonumber(db:info("clients"):match("blocked_clients:(%d+)"))
    end
    local one = redis.connect { port = port, db = 1, blocking_pool = 1 }
    local outcome = {}
    for i = 1, 2 do
        skynet.fork(function()
            local ok, err = pcall(one.brpop, one, "q1", 0)
            outcome[i] = ok and err[2] or err
        end)
    end
    skynet.yield()  -- both forks have run up to their first wait
    t.eq(one.pool.count, 1, "one pooled connection")
    t.eq(#one.pool.waiters, 1, "the second BRPOP waits for it")
    t.wait_until(function() return blocked() == 1 end, 300, "the first BRPOP on the server")
    one:disconnect()
    t.wait_until(function() return outcome[1] and outcome[2] end, 300, "both BRPOPs")
    t.ok(outcome[2]:find(where .. ": the client was closed", 1, true), outcome[2])
    t.ok(outcome[1]:find(where .. ": BRPOP: the client was closed; the command may or may not "
        .. "have executed", 1, true), outcome[1])
    t.eq(one.pool.count, 0, "its connection closed")
    t.wait_until(function() return blocked() == 0 end, 300, "nothing blocked on the server")

    -- A coroutine killed while its blocking command waits, or while it waits for a pooled
    -- connection, gives back what it held: the connection is closed (the server drops the
    -- command), and the next blocking command gets one.
    local pool1 = redis.connect { port = port, db = 1, blocking_pool = 1 }
    local victims = {}
    for i = 1, 2 do
        skynet.fork(function()
            victims[i] = coroutine.running()
            pool1:brpop("q1", 0)
        end)
    end
    skynet.yield()
    t.wait_until(function() return blocked() == 1 end, 300, "the BRPOP on the server")
    t.eq(skynet.killthread(victims[2]), victims[2], "killed while queued")
    t.eq(#pool1.pool.waiters, 0, "its place in the queue is gone")
    t.eq(skynet.killthread(victims[1]), victims[1], "killed while its BRPOP waits")
    t.eq(pool1.pool.count, 0, "its connection closed")
    t.wait_until(function() return blocked() == 0 end, 300, "its BRPOP ended on the server")
    t.eq(pool1:brpop("q1", 0.05), nil, "the next blocking command has a connection")
    t.eq(pool1.pool.count, 1, "a new one")
    pool1:disconnect()

    -- A wrong password and a SELECT out of range fail the connect with the server's words.
    db:config("SET", "requirepass", "s3cret")
    t.raises({ where .. ": AUTH: WRONGPASS" }, redis.connect, { port = port, auth = "wrong" })
    local ok = redis.connect { port = port, auth = "s3cret", db = 2 }
    t.eq(ok:ping(), "PONG", "right password")
    ok:config("SET", "requirepass", "")
    ok:disconnect()
    t.raises({ where .. ": SELECT: ERR" }, redis.connect, { port = port, db = 100000 })
    t.raises({ "redis 127.0.0.1:1: connect:" }, redis.connect, { port = 1 })

    -- The measurement mode: writes deferred by a timer.
    local svc = redis.connect { port = port, db = 1, flush = "timeout", replies = "raw" }
    t.eq(svc:get("k"), "v", "writes deferred by a timer")
    local many = {}
    for i = 1, 300 do many[i] = { "echo", string.rep("x", i * 100) } end
    local echoed = svc:pipeline(many)
    for i = 1, 300 do t.eq(#echoed[i], i * 100, "reply split across reads " .. i) end
    t.raises({ where .. ": GET: WRONGTYPE" }, svc.get, svc, "list")
    svc:disconnect()

    -- A command's caller waits for its reply with its coroutine as the token. A wakeup of that
    -- coroutine by someone else (it is a token anyone holding it may use) while the reply is
    -- due must not end the wait: the caller still gets its own reply. CLIENT PAUSE from a
    -- second connection holds the GET's reply for 200 ms.
    local pauser = redis.connect { port = port, db = 1 }
    pauser:command("CLIENT", "PAUSE", 200, "ALL")
    local waiter, value, done
    skynet.fork(function()
        waiter = coroutine.running()
        value = db:get("k")
        done = skynet.now()
    end)
    skynet.sleep(2)
    t.eq(done, nil, "the GET waits for the paused server")
    t.eq(skynet.wakeup(waiter), true, "a stray wakeup finds the coroutine waiting")
    skynet.sleep(2)
    t.eq(done, nil, "the stray wakeup did not end the wait")
    t.wait_until(function() return done end, 1000, "the GET's reply after the pause")
    t.eq(value, "v", "the caller got its own reply")

    -- A caller killed (skynet.killthread) while its reply is due: the reply, when it comes, must
    -- not wake whatever coroutine runs on that thread next. A killed thread is not reused, so a
    -- new coroutine that waits on itself stays asleep until its own wakeup.
    pauser:command("CLIENT", "PAUSE", 200, "ALL")
    local killed = skynet.fork(function() db:get("k") end)
    skynet.sleep(2)
    t.eq(skynet.killthread(killed), killed, "killthread of a caller waiting for its reply")
    local sleeper, woke
    skynet.fork(function()
        sleeper = coroutine.running()
        skynet.wait()
        woke = skynet.now()
    end)
    skynet.sleep(2)
    t.ok(sleeper ~= killed, "the killed thread is not taken again")
    t.eq(db:get("k"), "v", "the connection after the pause (the killed GET's reply came first)")
    t.eq(woke, nil, "the killed caller's reply woke nobody")
    skynet.wakeup(sleeper)
    t.wait_until(function() return woke end, 500, "the sleeper wakes on its own wakeup")
    pauser:disconnect()

    -- skynet.socket and the client in one service: each socket's events reach its own owner
    -- (the client's sockets are routed to its transport), in whichever order they are used.
    local socket = require "skynet.socket"
    local listener, _, lport = socket.listen("127.0.0.1", 0)
    local accepted
    socket.start(listener, function(id)
        socket.start(id)
        accepted = id
    end)
    local client = assert(socket.open("127.0.0.1", lport))
    t.wait_until(function() return accepted end, 500, "the plain connection accepted")
    local mixed = redis.connect { port = port, db = 1 }
    t.eq(socket.invalid(mixed.conn.sock), true, "the client's socket is not skynet.socket's")
    local got = {}
    for i = 1, 20 do
        skynet.fork(function() got[i] = mixed:get("k") end)
        socket.write(client, "line " .. i .. "\n")
    end
    for i = 1, 20 do t.eq(socket.readline(accepted), "line " .. i, "plain line " .. i) end
    t.wait_until(function() return #got == 20 end, 500, "the client's replies")
    t.eq(got[20], "v", "the client's replies beside a plain socket")
    mixed:disconnect()
    local after = assert(socket.open("127.0.0.1", lport), "a plain connect after the client left")
    socket.write(after, "x")
    socket.close(after)
    t.raises({ "socket.route: the handler of socket" }, socket.route, client, "not a function")
    t.raises({ "is open here through skynet.socket" }, socket.route, client, function() end)
    socket.close(client)
    socket.close(accepted)
    socket.close(listener)

    -- After disconnect every call fails clearly.
    db:disconnect()
    t.raises({ where .. ": GET: the client was closed" }, db.get, db, "k")
end)
