-- skynet.db.redis.store against a real redis-server: load and create, dirty fields saved with a
-- version bump, a stale writer refused (drop) or rebased (merge), adopt with and without a gap,
-- the automatic flush, unload (and a load again before a deferred unload is done), and a save
-- whose reply was lost (server paused). Run under redis_lab.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local store = require "skynet.db.redis.store"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local lab_port = assert(tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT"), "SKYHIVE_TEST_LAB_PORT")

local function hget(db, key, field)
    return db:hget(key, field)
end

t.run(function()
    local db = redis.connect { port = port }
    db:flushall()
    local defaults = { gold = 100, title = "novice" }

    -- Load: created from defaults once, typed by the defaults, cached afterwards.
    local a = store.new(db, { prefix = "p:", defaults = defaults, interval = false })
    t.eq(select(2, a:load("nobody")), "missing", "load without create")
    t.eq(db:exists("p:nobody"), false, "nothing was created")
    local rec, created = a:load("alice", true)
    t.eq(created, true, "created")
    t.eq(rec.gold, 100, "numeric default reads back as a number")
    t.eq(rec.title, "novice", "string default")
    t.eq(a:version("alice"), 1, "a new record is version 1")
    t.eq(hget(db, "p:alice", "version"), "1", "version in Redis")
    local again, created2 = a:load("alice", true)
    t.ok(again == rec and created2 == false, "a loaded record is returned as it is in memory")

    -- Dirty fields are saved once, with a version bump; nothing dirty writes nothing.
    a:set("alice", "gold", 150)
    t.ok(a:dirty("alice"), "dirty after set")
    t.eq(a:flush("alice"), true, "flush")
    t.eq(hget(db, "p:alice", "gold"), "150", "saved")
    t.eq(hget(db, "p:alice", "version"), "2", "version bumped")
    t.eq(a:flush("alice"), true, "nothing to save")
    t.eq(hget(db, "p:alice", "version"), "2", "no write without changes")
    rec.title = "knight"
    a:mark("alice", "title")
    t.eq(a:flush("alice"), true, "flush of a field changed in place")
    t.eq(hget(db, "p:alice", "title"), "knight", "marked field saved")

    -- Another holder (a node that took the record over) writes; our next save is stale and, by
    -- default, our change is dropped for theirs.
    local b = store.new(db, { prefix = "p:", defaults = defaults, interval = false })
    b:load("alice")
    b:set("alice", "gold", 500)
    t.eq(b:flush("alice"), true, "the other holder saves")
    a:set("alice", "gold", 1)
    local ok, why, version = a:flush("alice")
    t.eq(ok, nil, "stale save refused")
    t.eq(why, "stale", "why")
    t.eq(version, 4, "the version found")
    t.eq(hget(db, "p:alice", "gold"), "500", "the newer state was not overwritten")
    t.eq(rec.gold, 500, "the local record now holds theirs")
    t.eq(a:version("alice"), 4, "and their version")
    t.ok(not a:dirty("alice"), "nothing left to save")

    -- merge: someone bumps gold by script (as a transfer does); our other field goes on top.
    local seen
    local m = store.new(db, {
        prefix = "p:", defaults = defaults, interval = false,
        on_conflict = function(id, _, remote, v, dirty)
            seen = { id = id, gold = remote.gold, version = v, said = dirty.said }
            return "merge"
        end,
    })
    local mrec = m:load("bob", true)
    db:eval("redis.call('HINCRBY', KEYS[1], 'gold', 7) return redis.call('HINCRBY', KEYS[1], 'version', 1)",
        1, "p:bob")
    m:set("bob", "said", 3)
    t.eq(m:flush("bob"), true, "merged and saved")
    t.ok(seen and seen.id == "bob" and seen.gold == 107 and seen.version == 2 and seen.said,
        "on_conflict saw the remote record and our dirty field")
    t.eq(mrec.gold, 107, "remote field taken")
    t.eq(hget(db, "p:bob", "said"), "3", "our field saved")
    t.eq(hget(db, "p:bob", "gold"), "107", "their field kept")
    t.eq(m:version("bob"), 3, "version after the merged save")

    -- adopt: the next version is taken as told; a gap means a read.
    local v = db:eval("redis.call('HINCRBY', KEYS[1], 'gold', -7) return redis.call('HINCRBY', KEYS[1], 'version', 1)",
        1, "p:bob")
    t.eq(m:adopt("bob", { gold = 100 }, v), "same", "adopt the next version")
    t.eq(mrec.gold, 100, "adopted value")
    t.eq(m:adopt("bob", { gold = 12345 }, v), "same", "an old version is ignored")
    t.eq(mrec.gold, 100, "not applied twice")
    db:hset("p:bob", "title", "bard")
    db:hincrby("p:bob", "version", 1)
    v = db:eval("redis.call('HINCRBY', KEYS[1], 'gold', 1) return redis.call('HINCRBY', KEYS[1], 'version', 1)",
        1, "p:bob")
    t.eq(m:adopt("bob", { gold = 101 }, v), "merged", "a gap refreshes")
    t.eq(mrec.title, "bard", "the write we were not told about is read")
    t.eq(m:refresh("bob"), "same", "refresh of an unchanged record")

    -- A record deleted under us: flush says so and keeps the change.
    m:set("bob", "said", 4)
    db:del("p:bob")
    t.eq(select(2, m:flush("bob")), "gone", "gone")
    t.ok(m:dirty("bob"), "the change is kept")

    -- The automatic flush and unload.
    local auto = store.new(db, { prefix = "p:", defaults = defaults, interval = 2 })
    auto:load("carol", true)
    auto:set("carol", "gold", 42)
    t.wait_until(function() return hget(db, "p:carol", "gold") == "42" end, 200, "automatic flush")
    auto:set("carol", "gold", 43)
    t.eq(auto:unload("carol"), true, "unload saves")
    t.eq(auto:get("carol"), nil, "and forgets")
    t.eq(hget(db, "p:carol", "gold"), "43", "saved by unload")
    t.eq(auto:close(), 0, "close with nothing to save")

    -- An unload that finds the record busy (another operation queued behind its save) leaves
    -- the forgetting to the automatic flush. Loaded again before that flush (a player back
    -- right after quitting), the record is in use again and must stay in memory.
    local back = store.new(db, { prefix = "p:", defaults = defaults, interval = 2 })
    back:load("erin", true)
    back:set("erin", "gold", 5)
    local unloaded, refreshed = false, false
    skynet.fork(function() -- holds the record across a round trip
        back:refresh("erin")
    end)
    skynet.yield()
    skynet.fork(function() -- queued first: its save waits for the refresh
        back:unload("erin")
        unloaded = true
    end)
    skynet.fork(function() -- queued second: holds the record when the unload looks
        back:refresh("erin")
        refreshed = true
    end)
    t.wait_until(function() return unloaded and refreshed end, 200, "unload and refresh done")
    local loaded_again = back:load("erin")
    t.ok(loaded_again ~= nil, "loaded again")
    back:set("erin", "gold", 6)
    t.wait_until(function() return hget(db, "p:erin", "gold") == "6" end, 200,
        "automatic flush of the record loaded again")
    t.ok(back:get("erin") == loaded_again, "the automatic flush did not forget it")
    t.eq(back:close(), 0, "close")

    -- A save whose reply is lost (the server paused past the timeout) may still be applied
    -- later; the next flush finds our own write and, merging, saves again without loss.
    local lab = redis.connect { port = lab_port, timeout = 20000 }
    local short = redis.connect { port = port, timeout = 300 }
    local own = store.new(short, {
        prefix = "p:", defaults = defaults, interval = false,
        on_conflict = function(_, rec_, remote) return remote.owner == rec_.owner and "merge" or "drop" end,
    })
    own:load("dave", true)
    own:set("dave", "owner", "me")
    t.eq(own:flush("dave"), true, "owner saved")
    lab:command("STOP")
    own:set("dave", "gold", 77)
    local ok2, why2 = own:flush("dave")
    lab:command("CONT")
    t.eq(ok2, nil, "no answer")
    t.eq(why2, "unavailable", "unavailable")
    t.ok(own:dirty("dave"), "still dirty")
    t.wait_until(function() return hget(db, "p:dave", "gold") == "77" end, 500,
        "the paused save applied after all")
    own:set("dave", "title", "lost and found")
    t.eq(own:flush("dave"), true, "the retry merges over our own earlier write")
    t.eq(hget(db, "p:dave", "gold"), "77", "gold")
    t.eq(hget(db, "p:dave", "title"), "lost and found", "title")
    t.ok(not own:dirty("dave"), "clean")
    lab:disconnect()
    short:disconnect()
    db:disconnect()
end)
