-- db:wait (WAIT) with a real master and 2 replicas: it runs behind the client's own writes, on
-- the connection that made them, so it counts the replicas that have those writes. A replica
-- stopped (SIGSTOP) does not count, and with both stopped it answers 0 once its timeout is over.
-- On a connection of its own (the old placement) it would answer 2 at once, with a replica
-- stopped: it made no writes, so every attached replica has "all" of them.
local skynet = require "skynet"
local t = require "tlib"
local lab = require "sentinel_lab"
local redis = require "skynet.db.redis"

local function elapsed_ms(since) return (skynet.hpc() - since) / 1e6 end

t.run(function()
    local m = lab.master_port()
    local replicas = {}
    for _, p in ipairs(lab.redis_ports) do
        if p ~= m then replicas[#replicas + 1] = p end
    end
    t.eq(#replicas, 2, "two replicas")
    -- Both replicas attached and in sync (through a client of its own).
    local admin = redis.connect { port = m, timeout = 3000 }
    t.eq(admin:set("w", 1), "OK", "a write")
    t.eq(admin:wait(2, 5000), 2, "both replicas acknowledged it")

    local db = redis.connect { port = m, timeout = 3000 }
    lab.lab():stop(replicas[1])
    t.eq(db:incr("w"), 2, "a write with one replica stopped")
    local t0 = skynet.hpc()
    t.eq(db:wait(2, 300), 1, "only the running replica has it")
    t.ok(elapsed_ms(t0) >= 290, "waited the timeout: " .. elapsed_ms(t0))
    -- The pipeline form binds the wait to its writes.
    local resp = {}
    db:pipeline({ { "incr", "w" }, { "wait", 1, 2000 } }, resp)
    t.ok(resp[1].out == 3 and resp[2].out == 1, "pipelined write and wait")
    t.eq(db:pipeline({ { "incr", "w" }, { "wait", 2, 200 } }), 1, "last reply: the wait's count")
    -- Other coroutines' commands wait behind it (one shared connection) and are answered after.
    local other
    skynet.fork(function() other = db:get("w") end)
    t.eq(db:wait(2, 200), 1, "still one")
    t.wait_until(function() return other ~= nil end, 300, "the command issued during the wait")
    t.eq(other, "4", "answered after it")

    lab.lab():stop(replicas[2])
    db:incr("w")
    t0 = skynet.hpc()
    t.eq(db:wait(1, 300), 0, "no replica has it")
    t.ok(elapsed_ms(t0) >= 290, "waited the timeout: " .. elapsed_ms(t0))

    lab.lab():cont(replicas[1])
    lab.lab():cont(replicas[2])
    t.eq(db:wait(2, 10000), 2, "both caught up after SIGCONT")
    admin:disconnect()

    -- The Sentinel client: the same, on its connection to the master.
    local sdb = lab.client { timeout = 3000 }
    t.eq(sdb:set("s", 1), "OK", "a write through Sentinel")
    t.eq(sdb:exists("s"), true, "skynet's shapes through Sentinel too")
    local rawdb = lab.client { replies = "raw" }
    t.eq(rawdb:exists("s"), 1, "replies = \"raw\" through Sentinel")
    rawdb:disconnect()
    t.raises({ "redis: opts.replies is a number" }, lab.client, { replies = 1 })
    t.eq(sdb:wait(2, 5000), 2, "both replicas, through Sentinel")
    lab.lab():stop(replicas[1])
    sdb:incr("s")
    t.eq(sdb:wait(2, 300), 1, "one replica stopped, through Sentinel")
    lab.lab():cont(replicas[1])
    sdb:disconnect()
    db:disconnect()
end, 6000)
