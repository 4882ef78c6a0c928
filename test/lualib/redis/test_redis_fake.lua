-- A server that breaks the protocol: malformed RESP, a stall, a close in the middle of a reply,
-- replies over the size limits, a reply nobody asked for. Each gives a clear error naming the
-- server and the command, and the service goes on. Run under redis_lab (SKYHIVE_TEST_FAKE_PORT).
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"

local fake_port = assert(tonumber(os.getenv "SKYHIVE_TEST_FAKE_PORT"), "SKYHIVE_TEST_FAKE_PORT")
local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local where = "redis 127.0.0.1:" .. fake_port

t.run(function()
    local db = redis.connect { port = fake_port, timeout = 300, backoff_min = 10, backoff_max = 50 }
    t.eq(db:get("ok"), "ok", "the fake server answers")

    local function broken(key, fragments)
        local err = t.raises(fragments, db.get, db, key)
        t.ok(err:find(where .. ": GET: ", 1, true) == 1, err)
        -- The client reconnects by itself and works again.
        t.wait_until(function() return pcall(db.get, db, "ok") end, 300, "back after " .. key)
        return err
    end
    broken("malformed", { "malformed RESP from server", "may or may not have executed" })
    broken("cut", { "connection lost", "may or may not have executed" })
    broken("bigbulk", { "RESP bulk of 1000000000 bytes exceeds the limit of 536870912" })
    broken("bigarray", { "RESP array of 100000000 elements exceeds the limit of 16777216" })
    broken("stall", { "no reply within 300 ms; the command may or may not have executed" })
    -- The first +OK is the reply; the second one, which nobody asked for, breaks the connection.
    t.eq(db:get("extra"), "OK", "the first of two replies")
    t.wait_until(function() return db.conn.cause end, 300, "the extra reply noticed")
    t.ok(db.conn.cause:find("a reply arrived that no command was waiting for", 1, true), db.conn.cause)
    t.wait_until(function() return pcall(db.get, db, "ok") end, 300, "back after extra")
    t.raises({ where .. ": GET: ERR fake server" }, db.get, db, "other")

    -- Commands queued behind a broken reply fail too, each naming itself.
    local errs = {}
    for i = 1, 5 do
        skynet.fork(function()
            local ok, err = pcall(db.set, db, "s" .. i, i)
            errs[i] = ok and "ok" or err
        end)
    end
    local err = t.raises({ "malformed RESP" }, db.get, db, "malformed")
    t.wait_until(function() return #errs == 5 end, 300, "queued commands")
    for i = 1, 5 do
        t.ok(errs[i]:find(where .. ": SET: ", 1, true) and errs[i]:find("may or may not", 1, true), errs[i])
    end
    db:disconnect()

    -- The service is fine: a real server still works from here.
    local real = redis.connect { port = port }
    t.eq(real:ping(), "PONG", "service survived")
    real:disconnect()
    assert(err)
end)
