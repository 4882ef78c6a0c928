-- The cluster's membership in Redis (lualib/skynet/cluster/membership.lua), on whatever Redis the
-- runner started: standalone (with_redis), Sentinel (with_sentinel) or Redis Cluster
-- (with_cluster), reached through skynet.db.redis.config as a node's config would. Each "node"
-- is a membership object with a client of its own: join with a fresh epoch, a second live node
-- with the same name refused, renewal, a clean leave removing the record at once, expiry within
-- the TTL once the owner stops renewing, and watchers (with the events channel, and polling
-- alone) seeing every join and leave.
local skynet = require "skynet"
local t = require "tlib"
local rconfig = require "skynet.db.redis.config"
local membership = require "skynet.cluster.membership"

-- The runner's Redis as config keys.
local function env()
    local e = {}
    if os.getenv "SKYHIVE_TEST_CLUSTER_PORTS" then
        local seeds = {}
        for p in os.getenv("SKYHIVE_TEST_CLUSTER_PORTS"):gmatch("%d+") do
            seeds[#seeds + 1] = "127.0.0.1:" .. p
        end
        e.redis_cluster = table.concat(seeds, ",")
    elseif os.getenv "SKYHIVE_TEST_SENTINEL_PORTS" then
        local list = {}
        for p in os.getenv("SKYHIVE_TEST_SENTINEL_PORTS"):gmatch("%d+") do
            list[#list + 1] = "127.0.0.1:" .. p
        end
        e.redis_sentinels = table.concat(list, ",")
        e.redis_master = os.getenv "SKYHIVE_TEST_SENTINEL_MASTER"
    else
        e.redis = "127.0.0.1:" .. assert(os.getenv "SKYHIVE_TEST_REDIS_PORT",
            "run under with_redis, with_sentinel or with_cluster")
    end
    return e
end

local TTL = 1000 -- ms, short so that expiry is quick to see

local function find(list, name)
    for _, r in ipairs(list) do
        if r.name == name then return r end
    end
end

-- Records every event a watcher reports, with when (cs).
local function recorder()
    local rec = { events = {} }
    function rec.f(kind, r)
        rec.events[#rec.events + 1] = { kind = kind, name = r.name, epoch = r.epoch, at = skynet.now() }
    end
    -- The first event of `kind` for name (and epoch, when given) at or after index `from`.
    function rec.find(kind, name, epoch, from)
        for i = from or 1, #rec.events do
            local e = rec.events[i]
            if e.kind == kind and e.name == name and (epoch == nil or e.epoch == epoch) then
                return e, i
            end
        end
    end
    function rec.wait(kind, name, epoch, cs, from)
        t.wait_until(function() return rec.find(kind, name, epoch, from) end, cs,
            kind .. " of " .. name)
        return rec.find(kind, name, epoch, from)
    end
    return rec
end

t.run(function()
    local opts = rconfig.options(env())
    skynet.error("membership test on " .. rconfig.describe(opts))
    local function client() return rconfig.connect(opts) end
    local admin = client()

    -- A watcher listening to the events channel polls rarely (ttl 60 s: every 20 s), so what it
    -- sees within a second came through the channel; one without the channel polls every ttl/3.
    local observer = membership.new { client = client(), name = "observer", address = "127.0.0.1:1",
        ttl = 60000 }
    local fast = recorder()
    local fast_w = observer:watch(fast.f, rconfig.watch(opts))
    local poller = membership.new { client = client(), name = "poller", address = "127.0.0.1:2",
        ttl = TTL }
    local slow = recorder()
    local slow_w = poller:watch(slow.f)

    -- Join: a fresh epoch from the shared counter, the record readable by every node.
    local n1 = membership.new { client = client(), name = "n1", address = "127.0.0.1:9001", ttl = TTL }
    local before = skynet.time()
    local e1 = n1:join()
    t.ok(math.type(e1) == "integer" and e1 > 0, "an integer epoch")
    local r = find(n1:list(), "n1")
    t.ok(r, "n1 is listed after its join")
    t.eq(r.address, "127.0.0.1:9001", "address")
    t.eq(r.epoch, e1, "epoch")
    t.ok(r.pid > 0, "pid")
    t.ok(r.since >= math.floor(before * 1000) - 1000 and r.since <= math.floor(skynet.time() * 1000) + 10,
        "start time in ms")
    local key = membership.PREFIX .. ":node:n1"
    local pttl = admin:pttl(key)
    t.ok(pttl > 0 and pttl <= TTL, "the record has a TTL (" .. pttl .. " ms)")
    local seen = fast.wait("join", "n1", e1, 100)
    t.ok(seen, "the channel's watcher saw the join")
    slow.wait("join", "n1", e1, 200)

    -- A second live node with the same name is refused, naming who holds it; waiting does not
    -- help while the holder renews.
    local dup = membership.new { client = client(), name = "n1", address = "127.0.0.1:9101", ttl = TTL }
    local err = t.raises({ "node name n1 is already live at 127.0.0.1:9001 (pid " .. r.pid
        .. ", epoch " .. e1 .. ")" }, dup.join, dup)
    t.ok(not err:find("\n"), "one line")
    t.ok(dup.epoch > e1, "the refused node took a later epoch")
    local t0 = skynet.now()
    local renewing = true
    skynet.fork(function()
        while renewing do
            n1:renew()
            skynet.sleep(TTL // 30)
        end
    end)
    t.raises({ "node name n1 is already live at 127.0.0.1:9001" }, dup.join, dup, 1500)
    renewing = false
    t.ok(skynet.now() - t0 >= 140, "it waited for the holder's record to expire")
    t.raises({ "node name n1 is now held by 127.0.0.1:9001 (pid " .. r.pid .. ", epoch " .. e1 .. ")" },
        dup.renew, dup)
    t.eq(dup:leave(), false, "a refused node's leave removes nothing")
    t.eq(find(n1:list(), "n1").epoch, e1, "n1 still holds its name")

    -- Renew: the TTL starts again.
    n1:renew()
    skynet.sleep(TTL // 20 + TTL // 30) -- past the last renewal of the loop above
    t.ok(admin:pttl(key) < TTL - 300, "the TTL ran down")
    t.eq(n1:renew(), "renewed", "renewed")
    t.ok(admin:pttl(key) > TTL // 2, "renewal set the TTL again")

    -- A second node joins; both are listed, sorted by name.
    local n2 = membership.new { client = client(), name = "n2", address = "127.0.0.1:9002", ttl = TTL }
    local e2 = n2:join()
    t.ok(e2 > e1, "epochs grow")
    local list = n2:list()
    t.eq(list[1].name, "n1", "sorted")
    t.eq(list[2].name, "n2", "sorted")
    local fast_from = #fast.events + 1
    fast.wait("join", "n2", e2, 100)
    slow.wait("join", "n2", e2, 200)

    -- Clean leave: the record and its index entry are gone at once, and watchers hear of it.
    n2:keepalive()
    local left_at = skynet.now()
    t.eq(n2:leave(), true, "n2 left")
    t.eq(admin:exists(membership.PREFIX .. ":node:n2"), false, "the record is gone at once")
    t.eq(admin:hexists(membership.PREFIX .. ":nodes", "n2"), 0, "and its index entry")
    t.ok(not find(n1:list(), "n2"), "n2 is no longer listed")
    local e = fast.wait("leave", "n2", e2, 100, fast_from)
    local channel_leave = e.at - left_at
    t.ok(channel_leave <= 50, "the channel's watcher saw the leave at once")
    slow.wait("leave", "n2", e2, 200)
    t.eq(n2:leave(), false, "a second leave removes nothing")

    -- Expiry: n1 stops renewing; its record is gone within the TTL of the last renewal (and not
    -- before), and the polling watcher sees n1 leave within a third of the TTL after that.
    -- `last` is taken before the renewal is sent: the server runs it later, so the record
    -- cannot expire before last + TTL; the server's own PTTL says it expires within the TTL.
    local last = skynet.now()
    t.eq(n1:renew(), "renewed", "last renewal")
    pttl = admin:pttl(key)
    t.ok(pttl <= TTL and pttl > 0, "the last renewal set the TTL (" .. pttl .. " ms left)")
    t.wait_until(function() return not admin:exists(key) end, 300, "n1's record to expire")
    -- Seen from here: late by the renewal's round trip and this loop's.
    local gone = skynet.now() - last
    t.ok(gone <= TTL // 10 + 25, "expired within the TTL (" .. gone * 10 .. " ms)")
    t.ok(gone >= TTL // 10 - 1, "not before the TTL (" .. gone * 10 .. " ms)")
    t.ok(not find(observer:list(), "n1"), "n1 is no longer listed")
    t.eq(admin:hexists(membership.PREFIX .. ":nodes", "n1"), 0, "list pruned its stale index entry")
    e = slow.wait("leave", "n1", e1, 200)
    t.ok(e.at - last <= (TTL + TTL // 3) // 10 + 30, "the poller saw the expiry within ttl/3")
    skynet.error(string.format("membership: ttl %d ms: the record expired %d ms after the last "
        .. "renewal, the polling watcher saw it leave after %d ms; the channel's watcher saw a "
        .. "clean leave after %d ms", TTL, gone * 10, (e.at - last) * 10, channel_leave * 10))

    -- The owner renewing after its record expired (Redis was away) sets it again: it rejoins,
    -- with its epoch.
    t.eq(n1:renew(), "rejoined", "rejoined after expiry")
    t.eq(find(observer:list(), "n1").epoch, e1, "listed again with its epoch")
    local from = #slow.events + 1
    slow.wait("join", "n1", e1, 200, from)
    t.eq(n1:leave(), true, "n1 left")
    slow.wait("leave", "n1", e1, 200, from)

    -- A restart of n1 gets a later epoch and the name; the old run is told another holds it.
    local n1b = membership.new { client = client(), name = "n1", address = "127.0.0.1:9011", ttl = TTL }
    local e3 = n1b:join()
    t.ok(e3 > e2, "a restart gets a later epoch")
    t.raises({ "node name n1 is now held by 127.0.0.1:9011" }, n1.renew, n1)
    t.eq(n1:leave(), false, "the old run's leave does not remove the new one")
    t.eq(find(observer:list(), "n1").address, "127.0.0.1:9011", "the new run is listed")
    fast.wait("join", "n1", e3, 100)

    -- keepalive keeps the record past several TTLs.
    n1b:keepalive()
    skynet.sleep(TTL * 3 // 10)
    t.eq(find(observer:list(), "n1").epoch, e3, "kept alive by keepalive")
    t.ok(admin:pttl(key) > TTL // 2, "renewed every ttl/3")
    t.eq(n1b:leave(), true, "left")
    skynet.sleep(TTL // 10)
    t.eq(admin:exists(key), false, "keepalive stopped at leave")

    -- keepalive of a node whose name another took: renewal stops and says why.
    local n3 = membership.new { client = client(), name = "n3", address = "127.0.0.1:9003", ttl = TTL }
    n3:join()
    admin:del(membership.PREFIX .. ":node:n3")
    local thief = membership.new { client = client(), name = "n3", address = "127.0.0.1:9033", ttl = TTL }
    thief:join()
    local lost
    n3:keepalive(function(why) lost = why end)
    t.wait_until(function() return lost end, 200, "n3's keepalive to notice")
    t.ok(lost:find("node name n3 is now held by 127.0.0.1:9033", 1, true), lost)
    thief:leave()

    -- Bad arguments are told at once.
    t.raises({ "membership.new: name \"a b\"" }, membership.new,
        { client = admin, name = "a b", address = "h:1" })
    t.raises({ "membership.new: address \"nohost\": host:port expected" }, membership.new,
        { client = admin, name = "a", address = "nohost" })

    fast_w:stop()
    slow_w:stop()
    -- Every join and leave the watchers saw came in order for each name: never a leave without a
    -- join before it.
    for _, rec in ipairs { fast, slow } do
        local live = {}
        for _, ev in ipairs(rec.events) do
            local id = ev.name .. "/" .. ev.epoch
            if ev.kind == "join" then
                t.ok(not live[ev.name], "a join while " .. ev.name .. " was live: " .. id)
                live[ev.name] = ev.epoch
            else
                t.eq(live[ev.name], ev.epoch, "leave of the live epoch of " .. ev.name)
                live[ev.name] = nil
            end
        end
    end
end)
