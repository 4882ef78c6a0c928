-- skynet.db.redis.store on Redis Cluster (redis.cluster against a real cluster, under
-- with_cluster): records spread over every master are created, saved together by flush_all and
-- read back; opts.key puts a record in its player's slot (beside a lock that a script checks
-- with it); a writer that bumped a record's version elsewhere makes a save stale (dropped) or
-- rebased (merged), as on one server.
local redis = require "skynet.db.redis"
local store = require "skynet.db.redis.store"
local lock = require "skynet.db.redis.lock"
local t = require "tlib"
local lab = require "cluster_lab"

t.run(function()
    local masters = lab.lab():masters()
    for _, p in ipairs(masters) do lab.direct(tonumber(p)):flushall() end
    local db = redis.cluster { nodes = lab.seeds, timeout = 5000 }

    -- Records in every master's slots: created, changed, flushed in one go, read back.
    local s = store.new(db, { prefix = "rec:", defaults = { gold = 100 }, interval = false })
    local on = {}
    for i = 1, 60 do
        local id = "r" .. i
        local rec, created = s:load(id, true)
        t.ok(created and rec.gold == 100, "created " .. id)
        s:set(id, "gold", 100 + i)
        on[lab.lab():owner(redis.slot("rec:" .. id))] = true
    end
    local owners = 0
    for _ in pairs(on) do owners = owners + 1 end
    t.eq(owners, #masters, "the records sit on every master")
    t.eq(s:flush_all(), 0, "every save of the batch succeeded")
    for i = 1, 60 do
        local id = "r" .. i
        t.eq(db:hget("rec:" .. id, "gold"), tostring(100 + i), "saved " .. id)
        t.eq(db:hget("rec:" .. id, "version"), "2", "version bumped once " .. id)
        t.ok(not s:dirty(id), "clean " .. id)
    end

    -- A tagged key: the record in its player's slot, so one script can check the player's lock
    -- and write the record.
    local p = store.new(db, {
        key = function(id) return "player:{" .. id .. "}" end,
        defaults = { gold = 10 },
        interval = false,
        on_conflict = function() return "merge" end,
    })
    t.eq(select(2, p:load("ann", true)), true, "created under the tagged key")
    t.eq(db:hget("player:{ann}", "gold"), "10", "at player:{ann}")
    local l = assert(lock.acquire(db, "lock:{ann}", { ttl = 5000 }))
    t.eq(redis.slot(l.key), redis.slot("player:{ann}"), "the lock beside the record")
    local move = redis.script [[
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'gold', 5)
return redis.call('HINCRBY', KEYS[1], 'version', 1)
]]
    t.eq(move(db, 2, "player:{ann}", l.key, l.token), 2, "a script checked the lock and wrote")
    l:release()

    -- That writer bumped the version: the save merges the local field on top of its gold.
    p:set("ann", "title", "knight")
    t.eq(p:flush("ann"), true, "merged and saved")
    t.eq(db:hget("player:{ann}", "gold"), "15", "the other writer's gold kept")
    t.eq(db:hget("player:{ann}", "title"), "knight", "the local change written")
    t.eq(db:hget("player:{ann}", "version"), "3", "on the newer version")

    -- With the default (drop), a save that finds a newer version writes nothing.
    db:hincrby("rec:r1", "version", 1)
    s:set("r1", "gold", 1)
    local ok, why = s:flush("r1")
    t.eq(ok, nil, "a stale save")
    t.eq(why, "stale", "is refused")
    t.eq(db:hget("rec:r1", "gold"), "101", "and wrote nothing")
    t.eq(s:get("r1").gold, 101, "memory took Redis's record")
end, 6000)
