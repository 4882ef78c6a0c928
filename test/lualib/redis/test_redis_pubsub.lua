-- redis.watch: subscribe / psubscribe / unsubscribe, messages in publish order, and
-- subscriptions restored (with AUTH and SELECT) after the server restarts, also those asked for
-- by several coroutines while the watcher reconnects. Run under redis_lab.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local lab_port = assert(tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT"), "SKYHIVE_TEST_LAB_PORT")

t.run(function()
    local lab = redis.connect { port = lab_port, timeout = 20000 }
    -- The watcher logs in as "tester", a user the server has again after its restart.
    local USER = { "user", "tester", "on", ">pw", "~*", "&*", "+@all" }
    local db = redis.connect { port = port, backoff_min = 10, backoff_max = 100 }
    db:acl("SETUSER", table.unpack(USER, 2))
    local w = redis.watch { port = port, username = "tester", auth = "pw", db = 2,
        backoff_min = 10, backoff_max = 100 }
    w:subscribe("news", "chat")
    w:psubscribe("user.*")
    t.eq(db:pubsub("NUMSUB", "news")[2], 1, "subscribed when subscribe returns")

    -- Order: everything published arrives in publish order, binary-safe.
    for i = 1, 100 do db:publish(i % 2 == 0 and "news" or "chat", "m" .. i .. "\0") end
    for i = 1, 100 do
        local msg, ch, pat = w:message()
        t.eq(msg, "m" .. i .. "\0", "message " .. i)
        t.eq(ch, i % 2 == 0 and "news" or "chat", "channel " .. i)
        t.eq(pat, nil, "no pattern for a plain subscription")
    end
    db:publish("user.42", "hello")
    local msg, ch, pat = w:message()
    t.ok(msg == "hello" and ch == "user.42" and pat == "user.*", "pattern message")

    -- A reader waiting in message() is woken by the next message.
    local got
    skynet.fork(function() got = { w:message() } end)
    skynet.yield()
    t.eq(got, nil, "message() waits")
    db:publish("news", "late")
    t.wait_until(function() return got end, 300, "woken reader")
    t.eq(got[1], "late", "woken with the message")

    w:unsubscribe("chat")
    db:publish("chat", "dropped")
    db:publish("news", "kept")
    t.eq(w:message(), "kept", "unsubscribed channel is gone")

    -- Restart: the watcher reconnects, sends AUTH and SELECT, subscribes again.
    lab:restart(USER)
    t.wait_until(function()
        local ok, r = pcall(db.pubsub, db, "NUMSUB", "news")
        return ok and r[2] == 1
    end, 1000, "subscription restored")
    t.wait_until(function()
        local ok, r = pcall(db.pubsub, db, "NUMPAT")
        return ok and r == 1
    end, 1000, "pattern restored")
    db:publish("news", "after restart")
    db:publish("user.7", "pattern after restart")
    t.eq(w:message(), "after restart", "message after the restart")
    t.eq(select(3, w:message()), "user.*", "pattern message after the restart")
    t.eq(w:pending(), 0, "nothing else queued")
    local clients = db:client("LIST")
    t.ok(clients:find("db=2 [^\n]*psub=1 [^\n]*user=tester"),
        "the watcher's connection logged in and selected db 2 again: " .. clients)

    -- Two coroutines subscribe to one channel while the watcher reconnects: the one SUBSCRIBE
    -- sent after the handshake confirms both.
    local w2 = redis.watch { port = port, name = "twice", backoff_min = 200, backoff_max = 300,
        timeout = 1000 }
    w2:subscribe("warm")
    local id = db:client("LIST"):match("id=(%d+) [^\n]*name=twice ")
    db:client("KILL", "ID", id)
    t.wait_until(function() return w2.conn.state ~= "ready" end, 300, "the watcher's drop noticed")
    local subscribed = {}
    for i = 1, 2 do
        skynet.fork(function() subscribed[i] = { pcall(w2.subscribe, w2, "twice") } end)
    end
    t.wait_until(function() return subscribed[1] and subscribed[2] end, 300, "both subscribers")
    for i = 1, 2 do
        t.ok(subscribed[i][1], "subscriber " .. i .. ": " .. tostring(subscribed[i][2]))
    end
    db:publish("twice", "once")
    t.eq(w2:message(), "once", "the channel's message")
    w2:disconnect()

    w:disconnect()
    t.raises({ "the watcher was closed" }, w.message, w)
    db:disconnect()
    lab:disconnect()
end)
