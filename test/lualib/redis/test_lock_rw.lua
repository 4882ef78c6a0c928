-- skynet.db.redis.lock_rw against a real redis-server: readers share, a writer excludes them
-- and they it, a waiting writer holds off new readers and is woken by the last reader's
-- release, waiting readers are woken together, a writer that gives up lets readers in, an
-- expired reader does not block a writer, writers are fenced. Run under redis_lab.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local rw = require "skynet.db.redis.lock_rw"
local t = require "tlib"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")
local SLOW = { base = 2000, max = 2000, jitter = 0 }  -- polls too slow to explain a quick wake-up

t.run(function()
    local db = redis.connect { port = port }
    local other = redis.connect { port = port }

    -- Readers share; a writer waits for them and, while it waits, no new reader enters.
    local r1 = assert(rw.read(db, "map", { ttl = 5000 }))
    local r2 = assert(rw.read(other, "map", { ttl = 5000 }))
    t.eq(select(2, rw.write(db, "map", { ttl = 5000 })), "contended", "a writer while reading")
    local w
    skynet.fork(function()
        w = assert(rw.write(other, "map", { ttl = 5000, wait = 5000, fencing = true, retry = SLOW }))
    end)
    t.wait_until(function() return db:exists("map:wintent") == true end, 300, "the writer's intent")
    t.eq(select(2, rw.read(db, "map", { ttl = 5000 })), "contended", "no reader enters before it")
    r1:release()
    skynet.sleep(5)
    t.eq(w, nil, "one reader is still in")
    local released_at = skynet.hpc()
    r2:release()
    t.wait_until(function() return w end, 150, "the writer, woken by the last release")
    t.ok(skynet.hpc() - released_at < 1000000000, "not by its 2 s poll")
    t.eq(db:exists("map:wintent"), false, "its intent is gone")
    t.ok(w.fence and w.fence > 0, "a fenced writer")
    t.eq(lock.fenced(db, "map:data", w, "SET", "map:data", "v"), "OK", "fenced write")

    -- Readers wait for the writer and are woken together by its release.
    local readers = {}
    for i = 1, 3 do
        skynet.fork(function()
            readers[i] = assert(rw.read(db, "map", { ttl = 5000, wait = 5000, retry = SLOW }))
        end)
    end
    skynet.sleep(5)
    t.eq(#readers, 0, "readers wait for the writer")
    released_at = skynet.hpc()
    t.eq(w:release(), true, "writer release")
    t.wait_until(function() return readers[1] and readers[2] and readers[3] end, 150, "all readers")
    t.ok(skynet.hpc() - released_at < 1000000000, "woken together, not by their polls")
    for i = 1, 3 do readers[i]:release() end

    -- A writer that gives up lets readers in at once.
    local r3 = assert(rw.read(db, "map", { ttl = 5000 }))
    t.eq(select(2, rw.write(other, "map", { ttl = 5000, wait = 100 })), "timeout", "writer gives up")
    t.wait_until(function() return db:exists("map:wintent") == false end, 100, "intent dropped")
    local r4 = assert(rw.read(db, "map", { ttl = 5000 }))
    r3:release()
    r4:release()

    -- A reader that expired without releasing does not hold off a writer past its ttl.
    assert(rw.read(db, "map2", { ttl = 100 }))
    local w2 = assert(rw.write(other, "map2", { ttl = 5000, wait = 2000 }))
    t.eq(db:get("map2"), w2.token, "the writer holds it")
    t.eq(select(2, rw.read(db, "map2", { ttl = 5000 })), "contended", "readers wait for it")
    t.eq(w2:release(), true, "release")
    local r5 = assert(rw.read(db, "map2", { ttl = 5000 }))
    t.eq(r5:extend(8000), true, "a reader extends")
    t.eq(r5:release(), true, "and releases")
    t.eq(select(2, r5:release()), "not_owner", "once")

    -- A reader and a writer of this service wait (the reader first, held off by another
    -- writer's intent): the last reader's release wakes the readers here, and the writer with
    -- them, which takes the lock at once instead of at its next poll 2 s later.
    local last = assert(rw.read(db, "map3", { ttl = 5000 }))
    db:set("map3:wintent", "someone", "PX", 3000)
    skynet.fork(function() rw.read(db, "map3", { ttl = 5000, wait = 8000, retry = SLOW }) end)
    skynet.sleep(20)
    local writer_at
    skynet.fork(function()
        local w3 = assert(rw.write(db, "map3", { ttl = 5000, wait = 8000, retry = SLOW }))
        writer_at = skynet.hpc()
        w3:release()
    end)
    skynet.sleep(20)
    local released_at = skynet.hpc()
    t.eq(last:release(), true, "the last reader releases")
    t.wait_until(function() return writer_at end, 300, "the writer")
    local ms = (writer_at - released_at) // 1000000
    t.ok(ms < 1000, "the writer took the lock " .. ms .. " ms after the release, before its poll")
end)
