-- Locks on Redis Cluster (redis.cluster against a real cluster of 3 masters with a replica
-- each, under with_cluster): a lock's keys share one slot (an untagged name is tagged, a tagged
-- one kept), exclusion under contention, release notices reaching waiters through pub/sub,
-- fair order, the semaphore's limit, read-write exclusion, fencing refusals (and a fenced
-- command whose key is in another slot raising with the way out), min_replicas counted on
-- the lock's own shard, and another node's release reaching a waiter by shard channel.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"
local rw = require "skynet.db.redis.lock_rw"
local semaphore = require "skynet.db.redis.semaphore"
local scripts = require "skynet.db.redis.lock_scripts"
local t = require "tlib"
local lab = require "cluster_lab"

local function ms_since(t0)
    return (skynet.hpc() - t0) // 1000000
end

local together = lab.together

t.run(function()
    for _, p in ipairs(lab.lab():masters()) do lab.direct(tonumber(p)):flushall() end
    local db = redis.cluster { nodes = lab.seeds, timeout = 5000 }

    -- Naming: an untagged name is kept under "{name}", in the slot of the key named like it;
    -- a tagged one is used as it is. Every script of the lock ran (one slot each).
    local l = assert(lock.acquire(db, "room:7", { ttl = 5000, fencing = true }))
    t.eq(l.key, "{room:7}", "an untagged name is tagged on a cluster")
    t.eq(db:get("{room:7}"), l.token, "the tagged key holds the token")
    t.eq(math.tointeger(tonumber(db:get("{room:7}:fence"))), l.fence, "the fence counter")
    t.eq(redis.slot("{room:7}:fence"), redis.slot("room:7"), "in the slot of the plain name")
    t.eq(db:exists("room:7"), false, "nothing under the untagged name")
    local g = assert(lock.acquire(db, "{player:9}:lock", { ttl = 5000 }))
    t.eq(g.key, "{player:9}:lock", "a tagged name is kept")
    t.eq(lock.release(db, "room:7", l.token), true, "release by token with the name as given")
    t.eq(select(2, l:release()), "lost", "the lease learns it was released by token")
    t.eq(g:release(), true, "release of the tagged lock")

    -- Exclusion under contention: 24 coroutines, 3 locks whose tags are on different masters
    -- when the slots allow, each section a read-yield-write of a counter in the lock's slot.
    local names = { "ex:a", "ex:b", "ex:c" }
    local inside, overlaps, sections = {}, 0, 0
    together(24, function(i)
        local name = names[i % 3 + 1]
        for _ = 1, 5 do
            local lease = assert(lock.acquire(db, name, { ttl = 5000, wait = 20000 }))
            if inside[name] then overlaps = overlaps + 1 end
            inside[name] = true
            local count = "{" .. name .. "}:count"
            local v = tonumber(db:get(count) or "0")
            skynet.yield()
            db:set(count, v + 1)
            inside[name] = false
            sections = sections + 1
            t.eq(lease:release(), true, "release after a section")
        end
    end)
    t.eq(overlaps, 0, "no two holders of one lock at once")
    local total = 0
    for _, name in ipairs(names) do total = total + tonumber(db:get("{" .. name .. "}:count")) end
    t.eq(total, 24 * 5, "every read-yield-write counted once")
    t.eq(sections, 24 * 5, "every section ran")

    local waiter = coroutine.running()

    -- Fair order: waiters queued one after the other get the lock in that order.
    local f = assert(lock.acquire(db, "fair", { ttl = 10000, fair = true }))
    local order = {}
    local done = 0
    for i = 1, 5 do
        skynet.fork(function()
            local lease = assert(lock.acquire(db, "fair", { ttl = 5000, wait = 15000, fair = true }))
            order[#order + 1] = i
            skynet.sleep(2)
            lease:release()
            done = done + 1
            if done == 5 then skynet.wakeup(waiter) end
        end)
        t.wait_until(function() return db:zcard("{fair}:queue") == i end, 500, "waiter " .. i .. " queued")
    end
    f:release()
    skynet.wait(waiter)
    t.same(order, { 1, 2, 3, 4, 5 }, "fair waiters in arrival order")

    -- The semaphore: never more than its limit at once.
    local holding, peak = 0, 0
    together(10, function()
        local p = assert(semaphore.acquire(db, "pool", 3, { ttl = 5000, wait = 20000 }))
        holding = holding + 1
        if holding > peak then peak = holding end
        skynet.sleep(3)
        holding = holding - 1
        p:release()
    end)
    t.eq(peak, 3, "at most 3 permits held at once, and 3 were")
    t.eq(semaphore.count(db, "pool"), 0, "every permit given back")

    -- Read-write: readers share; a waiting writer keeps new readers out and gets in when the
    -- readers leave.
    local r1 = assert(rw.read(db, "map", { ttl = 5000 }))
    local r2 = assert(rw.read(db, "map", { ttl = 5000 }))
    t.eq(r1.key, "{map}", "a read lease's key is tagged too")
    local wrote
    skynet.fork(function()
        local w = assert(rw.write(db, "map", { ttl = 5000, wait = 10000 }))
        wrote = true
        w:release()
        skynet.wakeup(waiter)
    end)
    t.wait_until(function() return db:exists("{map}:wintent") end, 500, "the writer's intent")
    t.eq(select(2, rw.read(db, "map", { ttl = 5000 })), "contended", "no new reader past a waiting writer")
    t.ok(not wrote, "the writer waits for the readers")
    r1:release()
    r2:release()
    skynet.wait(waiter)
    t.ok(wrote, "the writer got in after the readers left")

    -- Fencing: a holder whose lease ran out is refused; the record sits in the slot of the key
    -- the resource is named after.
    local old = assert(lock.acquire(db, "doc", { ttl = 100, fencing = true }))
    t.wait_until(function() return not old:valid() end, 100, "the old lease expires")
    local new = assert(lock.acquire(db, "doc", { ttl = 5000, wait = 1000, fencing = true }))
    t.ok(new.fence > old.fence, "a newer fence")
    t.eq(lock.fenced(db, "doc:body", new, "SET", "doc:body", "new"), "OK", "the holder writes")
    t.eq(redis.slot("{doc:body}:fenced"), redis.slot("doc:body"), "the fence record beside it")
    local r, why, high = lock.fenced(db, "doc:body", old, "SET", "doc:body", "old")
    t.eq(r, nil, "the stale holder is refused")
    t.eq(why, "stale", "as stale")
    t.eq(high, new.fence, "naming the newest fence")
    t.eq(db:get("doc:body"), "new", "the newer data stays")
    -- A key in another slot than the fence record cannot be written by the script.
    local other = "doc:elsewhere"
    assert(redis.slot(other) ~= redis.slot("doc:body"))
    t.raises({ "lock.fenced SET on doc:body", "{doc:body}:fenced", "hash tag" },
        lock.fenced, db, "doc:body", new, "SET", other, "x")
    t.eq(db:exists(other), false, "nothing written elsewhere")
    new:release()

    -- min_replicas counts the replicas of the lock's own shard (one each here).
    local s1 = assert(lock.acquire(db, "sync", { ttl = 5000, min_replicas = 1, sync_timeout = 2000 }))
    t.eq(db:get("{sync}"), s1.token, "held once a replica acknowledged")
    s1:release()
    local t0 = skynet.hpc()
    local s2, serr, sdetail = lock.acquire(db, "sync", { ttl = 5000, min_replicas = 2, sync_timeout = 300 })
    t.eq(s2, nil, "two replicas cannot acknowledge on a shard with one")
    t.eq(serr, "not_synced", "not_synced (" .. tostring(sdetail) .. ")")
    t.ok(tostring(sdetail):find("1 of 2", 1, true), "one replica acknowledged: " .. tostring(sdetail))
    t.ok(ms_since(t0) >= 250, "WAIT waited for its timeout")
    t.eq(db:exists("{sync}"), false, "the unsynced lock is not left behind")

    -- A release notice reaches a waiter through the cluster's pub/sub: it polls every 3 s, yet
    -- takes the lock soon after the release.
    local h = assert(lock.acquire(db, "notice", { ttl = 10000 }))
    local got_ms
    local released_at
    skynet.fork(function()
        local w = assert(lock.acquire(db, "notice",
            { ttl = 5000, wait = 8000, retry = { base = 3000, max = 3000, jitter = 0 } }))
        got_ms = ms_since(released_at)
        w:release()
        skynet.wakeup(waiter)
    end)
    skynet.sleep(50) -- the waiter has tried, subscribed and tried again
    released_at = skynet.hpc()
    h:release()
    skynet.wait(waiter)
    t.ok(got_ms < 1500, "the waiter was woken by the release notice after " .. got_ms .. " ms")

    -- A release by another node reaches this node's waiter as a shard notice: the script
    -- SPUBLISHes on the master of the lock's slot, where the waiter's watcher subscribed with
    -- SSUBSCRIBE, and no classic PUBLISH (which the cluster bus would carry to every node) is
    -- sent. The other node's holder and release are played here: its token, its node tag.
    t.eq(scripts.notice_mode(db, "{far}:released"), "s", "a lock's channel is a shard channel")
    t.eq(scripts.notice_mode(db, "pool:released"), "0", "an untagged semaphore's is not")
    local master = lab.node(lab.slot_owner(redis.slot("{far}")))
    local function calls(name)
        return tonumber(master:info("commandstats"):match("cmdstat_" .. name .. ":calls=(%d+)") or 0)
    end
    local far_token
    local far, far_ms, r, before = lab.far_release(db, "far", function(token)
        far_token = token
        local channel = "{far}:released:" .. token:match("^(.+)%.[^.]*$")
        t.wait_until(function()
            return master:command("PUBSUB", "SHARDNUMSUB", channel)[2] == 1
        end, 500, "the waiter's watcher is on the slot's master: " .. channel)
        t.eq(master:command("PUBSUB", "NUMSUB", channel)[2], 0, "and not classically")
    end, function() return { calls("spublish"), calls("publish") } end)
    t.ok(r[2]:find(far_token .. " 0 ", 1, true) == 1,
        "the other node's release granted it to the waiter: " .. tostring(r[2]))
    t.ok(far_ms < 1500, "the waiter was woken by the shard notice after " .. far_ms .. " ms")
    t.eq(far.token, far_token, "holding under its own token")
    t.eq(calls("spublish") - before[1], 1, "one SPUBLISH on the lock's master")
    t.eq(calls("publish") - before[2], 0, "no classic PUBLISH")
    far:release()
end, 12000)
