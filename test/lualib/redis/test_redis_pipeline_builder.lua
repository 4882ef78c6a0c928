-- db:pipeline() with no list: the pipeline builder (p:set(...), p:execute()). Its answers in
-- both reply modes are db:pipeline(ops)'s, errors name the command's position, refused commands
-- and bad arguments raise at their method with nothing added, a builder is empty after execute
-- and can be used again, builders of many coroutines share the connection without mixing their
-- replies, and a pipeline built while the server is down waits and is sent after the reconnect.
-- Run under redis_lab (SKYHIVE_TEST_LAB_PORT controls the server).
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local lab_port = assert(tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT"), "SKYHIVE_TEST_LAB_PORT")
local where = "redis 127.0.0.1:" .. port

t.run(function()
    local db = redis.connect { port = port, db = 7, backoff_min = 10, backoff_max = 100,
        timeout = 10000 }
    db:flushdb()

    -- skynet's shapes: the last reply without a results table, {ok, out} appended with one.
    local p = db:pipeline()
    t.eq(p:count(), 0, "a new builder is empty")
    t.eq(p:set("a", 1), p, "a command method returns the builder")
    p:incr("a"):incr("a")
    t.eq(p:count(), 3, "three commands added")
    t.eq(p:execute(), 3, "the last command's reply")
    t.eq(p:count(), 0, "execute empties the builder")
    local resp = p:set("q", 1):lpush("q", "x"):incr("q"):execute({})
    t.eq(#resp, 3, "one entry per command")
    t.ok(resp[1].ok and resp[1].out == "OK", "first entry")
    t.ok(not resp[2].ok and resp[2].out:find("^WRONGTYPE"), "Redis's error text: " ..
        tostring(resp[2].out))
    t.ok(resp[3].ok and resp[3].out == 2, "third entry")
    t.raises({ where .. ": pipeline #2 LPUSH: WRONGTYPE" },
        function() return p:get("q"):lpush("q", "x"):execute() end)
    t.eq(p:count(), 0, "emptied by a pipeline that raised too")
    t.raises({ where .. ": pipeline: no commands" }, p.execute, p)
    -- The same list as db:pipeline(ops) answers: command names in any case, lists spliced,
    -- numbers written as text, db:command's form.
    p:MSET({ "m1", 1, "m2", 2.5 }):command("GET", "m2"):mget("m1", "m2")
    local mget = p:execute()
    t.ok(mget[1] == "1" and mget[2] == "2.5", "lists spliced and numbers as text")
    t.eq(db:pipeline({ { "MSET", { "m1", 1, "m2", 2.5 } }, { "GET", "m2" }, { "mget", "m1",
        "m2" } })[2], "2.5", "the list form agrees")

    -- replies = "raw": the values, or the first error raised; results filled per command.
    local raw = redis.connect { port = port, db = 7, replies = "raw" }
    local rp = raw:pipeline()
    local vals = rp:get("a"):exists("a"):execute()
    t.ok(vals.n == 2 and vals[1] == "3" and vals[2] == 1, "raw: every value")
    t.eq(rp:execute().n, 0, "raw: an empty builder answers no values")
    t.raises({ where .. ": pipeline #2 LPUSH: WRONGTYPE" },
        function() return rp:get("q"):lpush("q", "x"):get("a"):execute() end)
    local filled = rp:get("q"):lpush("q", "x"):execute({ "stale", "stale", "stale" })
    t.eq(#filled, 2, "entries past the pipeline removed")
    t.ok(not filled[2].ok and filled[2].out:find(where .. ": pipeline #2 LPUSH: WRONGTYPE", 1,
        true), tostring(filled[2].out))

    -- Refused commands and bad arguments raise at their method; nothing of them is added.
    p:set("r", 1)
    t.raises({ where .. ": pipeline #2 SUBSCRIBE: use redis.watch" }, p.subscribe, p, "ch")
    t.raises({ where .. ": pipeline #2 MULTI: use db:transaction" }, p.multi, p)
    t.raises({ where .. ": pipeline #2 UNSUBSCRIBE: use redis.watch" }, p.unsubscribe, p, "ch")
    t.raises({ where .. ": pipeline #2 CLIENT: REPLY OFF and SKIP" }, p.client, p, "REPLY",
        "SKIP")
    t.raises({ where .. ": pipeline #2 SELECT: use the db option" }, p.select, p, 1)
    t.raises({ where .. ": pipeline #2 BRPOP: BRPOP blocks the connection" }, p.brpop, p, "q", 1)
    t.raises({ where .. ": pipeline #2 XREAD: XREAD with BLOCK blocks" }, p.xread, p, "block",
        0, "STREAMS", "s", "$")
    t.raises({ where .. ": pipeline #2 WAIT: the timeout" }, p.wait, p, 1, 0)
    t.raises({ where .. ": pipeline #2 CLIENT: REPLY" }, p.command, p, "client", { "reply", "on" })
    t.raises({ where .. ": pipeline #2 SET: " }, p.set, p, "k", true)
    t.raises({ where .. ": pipeline #2 SET: " }, p.set, p, "k", { {} })
    t.raises({ where .. ": pipeline: p:execute() sends a pipeline" }, p.exec, p)
    -- The error names the application's line that added the command, whether the method ran
    -- in C and raised from its general path, raised in Lua, or went through p:command.
    for _, case in ipairs {
        { "a word that cannot be encoded", function() p:set("k", true) end },
        { "a refused command", function() p:subscribe("ch") end },
        { "a command refused by its arguments",
            function() p:xread("BLOCK", 0, "STREAMS", "s", "$") end },
        { "p:command", function() p:command("set", "k", { {} }) end },
    } do
        local line = debug.getinfo(case[2], "S").linedefined
        local ok, err = pcall(case[2])
        t.ok(not ok and err:find("test_redis_pipeline_builder.lua:" .. line .. ": " .. where, 1,
            true), case[1] .. ": the caller's line first: " .. tostring(err))
    end
    t.eq(p:count(), 1, "the refused commands were not added")
    t.eq(p:execute(), "OK", "the builder still sends what it holds")
    local ok = p:client("GETNAME"):xread("COUNT", 1, "STREAMS", "nostream", "0"):wait(0, 10)
        :get("r"):execute({})
    t.ok(#ok == 4 and ok[2].ok and ok[2].out == nil and ok[3].out == 0 and ok[4].out == "1",
        "CLIENT GETNAME, XREAD without BLOCK and a WAIT that ends go")

    -- Used again and again, with pipelines of different sizes: each answers its own commands.
    for round = 1, 50 do
        local size = round % 7 + 1
        for i = 1, size do p:set("loop:" .. i, round * 10 + i) end
        p:get("loop:" .. size)
        t.eq(p:execute(), tostring(round * 10 + size), "round " .. round)
    end

    -- WAIT rides with the writes before it (no replicas: 0 acknowledged).
    t.eq(db:pipeline():set("w", 1):wait(0, 100):execute(), 0, "WAIT in a built pipeline")

    -- A one-command pipeline whose reply arrives with another request's (one write, one read):
    -- still answered as a pipeline.
    local one, single
    skynet.fork(function() one = db:pipeline():get("a"):execute({}) end)
    skynet.fork(function() single = db:get("a") end)
    t.wait_until(function() return one and single end, 500, "both answered")
    t.ok(one[1].ok and one[1].out == "3", "the pipeline's entry")
    t.eq(single, "3", "the single command's reply")

    -- Builders of many coroutines and single commands on one connection, issued in the same
    -- ticks: every coroutine reads its own replies.
    local done, bad = 0, {}
    for c = 1, 20 do
        skynet.fork(function()
            local own = db:pipeline()
            for i = 1, 30 do
                own:incr("co:" .. c):incr("co:" .. c)
                local v = own:get("co:" .. c):execute()
                if v ~= tostring(2 * i) then bad[#bad + 1] = string.format("%d/%d: %s", c, i,
                    tostring(v)) end
                local one = db:get("co:" .. c)
                if one ~= tostring(2 * i) then bad[#bad + 1] = string.format("%d/%d single: %s",
                    c, i, tostring(one)) end
            end
            done = done + 1
        end)
    end
    t.wait_until(function() return done == 20 end, 1000, "every coroutine done")
    t.eq(table.concat(bad, "; "), "", "replies matched their coroutines")

    -- Built while the server is down: execute waits in the backlog and is sent after the
    -- reconnect, whole.
    local lab = redis.connect { port = lab_port, timeout = 20000 }
    lab:kill()
    local got
    skynet.fork(function()
        got = { pcall(function()
            return db:pipeline():set("back", "x"):incr("n"):incr("n"):get("back"):execute({})
        end) }
    end)
    skynet.sleep(20)
    t.eq(got, nil, "the pipeline waits for the reconnect")
    lab:start()
    t.wait_until(function() return got end, 1000, "the pipeline after the restart")
    t.ok(got[1], tostring(got[2]))
    local r = got[2]
    t.ok(#r == 4 and r[1].out == "OK" and r[2].out == 1 and r[3].out == 2 and r[4].out == "x",
        "the pipeline's replies after the restart")
    db:disconnect()
    raw:disconnect()
end)
