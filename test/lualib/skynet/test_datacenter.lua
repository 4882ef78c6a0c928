-- skynet.datacenter: one tree of values for every service of the node; set returns what it
-- replaced, get copies, wait blocks until the path has a value (set by any service).
local skynet = require "skynet"
local datacenter = require "skynet.datacenter"
local t = require "tlib"

t.run(function()
    local other = skynet.newservice "helper_datacenter"

    t.eq(datacenter.get "missing", nil, "a missing key")
    t.eq(datacenter.set("motd", "hello"), nil, "first set replaces nothing")
    t.eq(datacenter.set("motd", "welcome"), "hello", "set returns the old value")
    t.eq(skynet.call(other, "lua", "GET", "motd"), "welcome", "another service reads it")
    t.eq(skynet.call("DATACENTER", "lua", "QUERY", "motd"), "welcome", "skynet's service name")

    -- Paths: tables are made along the way; get of a part gives a copy of the subtree.
    skynet.call(other, "lua", "SET", "room", 7, "name", "hall")
    skynet.call(other, "lua", "SET", "room", 7, "size", 12)
    t.eq(datacenter.get("room", 7, "name"), "hall", "nested get")
    local room = datacenter.get("room", 7)
    t.ok(t.same(room, { name = "hall", size = 12 }), "subtree")
    room.size = 99
    t.eq(datacenter.get("room", 7, "size"), 12, "get returns a copy")
    t.eq(datacenter.get("room", 8, "name"), nil, "missing branch")
    t.eq(datacenter.set("room", 7, "size", nil), 12, "nil deletes")
    t.eq(datacenter.get("room", 7, "size"), nil, "deleted")
    t.raises({ "datacenter.get: motd is a string, not a table" }, datacenter.get, "motd", "x")
    t.raises({ "datacenter.set: room.7.name is a string, not a table" }, datacenter.set, "room",
        7, "name", "first", 1)
    t.raises({ "datacenter.set needs a key and a value" }, datacenter.set)

    -- wait blocks until someone sets the path, in any service, then every waiter gets it.
    local got = {}
    for i = 1, 2 do
        skynet.fork(function() got[i] = datacenter.wait("config", "level") end)
    end
    skynet.fork(function() got[3] = skynet.call(other, "lua", "WAIT", "config", "level") end)
    skynet.yield()  -- the forks send their requests
    -- Requests from one service arrive in order: once the helper has answered this get, its wait
    -- (and ours, sent earlier) are queued in datacenterd.
    t.eq(skynet.call(other, "lua", "GET", "config"), nil, "nothing set yet")
    t.ok(next(got) == nil, "nobody returns before the set")
    datacenter.set("config", "other", 1)
    -- Answers to the waits would come before these replies (each sender's order is kept).
    t.eq(skynet.call(other, "lua", "GET", "config", "other"), 1, "sibling set")
    t.ok(next(got) == nil, "a sibling key wakes nobody")
    skynet.call(other, "lua", "SET", "config", "level", 30)
    t.wait_until(function() return got[1] and got[2] and got[3] end, 100, "waiters")
    t.ok(got[1] == 30 and got[2] == 30 and got[3] == 30, "every waiter got the value")
    t.eq(datacenter.wait("config", "level"), 30, "wait on a set path returns at once")

    -- A waiter on a deeper path wakes when an ancestor is set to a table holding it.
    local deep
    skynet.fork(function() deep = datacenter.wait("zone", "north", "boss") end)
    skynet.yield()
    datacenter.set("zone", { north = { boss = "troll" } })
    t.wait_until(function() return deep ~= nil end, 100, "deep waiter")
    t.eq(deep, "troll", "deep waiter's value")

    -- A waiter whose path now crosses a value that is not a table gets an error.
    local err
    skynet.fork(function()
        local ok, e = pcall(datacenter.wait, "gate", "port", "tcp")
        err = ok and "no error" or e
    end)
    skynet.yield()
    datacenter.set("gate", "port", 8001)
    t.wait_until(function() return err ~= nil end, 100, "failed waiter")
    t.ok(err:find("datacenter.wait: gate.port is a number, not a table", 1, true), err)
end)
