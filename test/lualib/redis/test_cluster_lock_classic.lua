-- Locks on a Redis Cluster whose servers have no shard channels, as before Redis 7 (with_cluster
-- renames SPUBLISH, SSUBSCRIBE and PUBSUB away): the waiting service's watcher subscribes
-- classically and the release scripts, whose SPUBLISH the server refuses, PUBLISH instead, so a
-- release still wakes its waiter at once, on this node and from another.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local t = require "tlib"
local lab = require "cluster_lab"

-- A 3 s poll: only a notice can wake the waiter sooner.
local SLOW_POLL = { ttl = 5000, wait = 8000, retry = { base = 3000, max = 3000, jitter = 0 } }

t.run(function()
    for _, p in ipairs(lab.lab():masters()) do lab.direct(tonumber(p)):flushall() end
    local db = redis.cluster { nodes = lab.seeds, timeout = 5000 }
    t.raises({ "unknown command" }, function() db:pubsub("SHARDNUMSUB") end)

    -- Another node's release reaches this node's waiter by a classic PUBLISH.
    local master = lab.node(lab.slot_owner(redis.slot("{far}")))
    local function published()
        return tonumber(master:info("commandstats"):match("cmdstat_publish:calls=(%d+)") or 0)
    end
    local far, far_ms, r, before = lab.far_release(db, "far", function() end, published)
    t.eq(type(r), "table", "the release granted the lock to the waiter")
    t.ok(far_ms < 1500, "the waiter was woken by the classic notice after " .. far_ms .. " ms")
    t.eq(published() - before, 1, "one PUBLISH on the lock's master")
    t.eq(db:get("{far}"), far.token, "held under the waiter's token")
    far:release()

    -- Contention within this node: waiters with a 3 s poll take the lock one after the other
    -- as it is released, with no poll between them.
    local h = assert(lock.acquire(db, "near", { ttl = 5000 }))
    local held = 0
    local t0 = skynet.hpc()
    skynet.fork(function()
        skynet.sleep(20) -- the waiters have tried and subscribed
        h:release()
    end)
    lab.together(4, function()
        local l = assert(lock.acquire(db, "near", SLOW_POLL))
        held = held + 1
        skynet.sleep(1)
        assert(l:release())
    end)
    t.eq(held, 4, "every waiter held the lock")
    local ms = (skynet.hpc() - t0) // 1000000
    t.ok(ms < 2500, "by hand-overs, not polls: " .. ms .. " ms")
end, 12000)
