-- For test_lock_handoff: another service of the node that waits for a lock.
--   call "acquire", key -> the lease's token and fence, and the ms it waited; the lock is
--   kept until "release" (or "slow_release", which sends the release 0.6 s late). Waits up to 10 s and polls only every 5 s, so only a release that
--   wakes it brings it the lock sooner.
--   call "wait_short", key: starts waiting (in a fork) for a lease of ttl 1 s, polling every 2 s;
--   call "status" -> that lease's token, whether it is valid, and its fence (nil while none).
--   send "busy": computes for 2.2 s (a reply that comes meanwhile waits).
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local lock = require "skynet.db.redis.lock"

local db, held

skynet.start(function()
    db = redis.connect { port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT")) }
    skynet.dispatch("lua", function(_, _, cmd, key)
        if cmd == "acquire" then
            local t0 = skynet.hpc()
            local l, err = lock.acquire(db, key, { ttl = 5000, wait = 10000, fencing = true,
                retry = { base = 5000, max = 5000, jitter = 0 } })
            if not l then return skynet.retpack(nil, err) end
            held = l
            skynet.retpack(l.token, l.fence, (skynet.hpc() - t0) / 1e6)
        elseif cmd == "release" then
            skynet.retpack(held:release())
        elseif cmd == "wait_short" then
            skynet.fork(function()
                held = lock.acquire(db, key, { ttl = 1000, wait = 10000, fencing = true,
                    retry = { base = 2000, max = 2000, jitter = 0 } })
            end)
            skynet.retpack(true)
        elseif cmd == "status" then
            skynet.retpack(held and held.token, held and held:valid(), held and held.fence)
        elseif cmd == "busy" then
            local stop = skynet.hpc() + 2200 * 1000000
            while skynet.hpc() < stop do end
        elseif cmd == "slow_release" then
            -- The release goes behind a WAIT of 0.6 s on the same connection (no replica
            -- answers it), so it is in flight that long.
            skynet.fork(function() db:wait(1, 600) end)
            skynet.sleep(1)
            skynet.retpack(held:release())
        end
    end)
end)
