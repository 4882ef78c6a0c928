-- read_from = "replica": single read-only commands go to a replica of the slot's master (its
-- connection said READONLY), writes to the master; "master" reads from the master.
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"

local function calls(db, name)
    local info = db:info("commandstats")
    return tonumber(info:match("cmdstat_" .. name .. ":calls=(%d+)")) or 0
end

t.run(function()
    local ctl = lab.lab()
    local plain = {}
    for _, p in ipairs(lab.ports) do plain[p] = redis.connect { port = p } end
    for _, p in ipairs(ctl:masters()) do plain[tonumber(p)]:flushall() end
    local key = "r:1"
    local master = tonumber(ctl:owner(redis.slot(key)))
    local replicas = ctl:replicas(master)
    t.ok(#replicas > 0, "the key's master has a replica")
    -- On a fresh cluster the replicas may still be in their first sync ("loading" in CLUSTER
    -- SHARDS): the client reads only from those the cluster calls online.
    t.wait_until(function()
        for _, shard in ipairs(plain[master]:command("CLUSTER", "SHARDS")) do
            for i = 1, #shard - 1, 2 do
                if shard[i] == "nodes" then
                    for _, n in ipairs(shard[i + 1]) do
                        for j = 1, #n - 1, 2 do
                            if n[j] == "health" and n[j + 1] ~= "online" then return false end
                        end
                    end
                end
            end
        end
        return true
    end, 3000, "every node online")
    local db = redis.cluster { nodes = lab.seeds, read_from = "replica", refresh_interval = 200 }
    -- Each node has its own view of its peers' health: the map the client got may still lack a
    -- replica; the next refreshes bring it.
    t.wait_until(function()
        for _, n in ipairs(db:nodes()) do
            if n.role == "replica" and n.master == "127.0.0.1:" .. master then return true end
        end
        return false
    end, 1000, "the client knows the replica")
    t.eq(db:set(key, "v"), "OK", "a write")
    -- Every replica has the write (the first sync may still run on a fresh cluster).
    t.wait_until(function()
        for _, p in ipairs(replicas) do
            if plain[tonumber(p)]:command("CLUSTER", "COUNTKEYSINSLOT", redis.slot(key)) == 0 then
                return false
            end
        end
        return true
    end, 1000, "the write on the replicas")
    for _, p in ipairs(lab.ports) do plain[p]:config("resetstat") end
    for _ = 1, 50 do t.eq(db:get(key), "v", "a read") end
    local on_replicas = 0
    for _, p in ipairs(replicas) do on_replicas = on_replicas + calls(plain[tonumber(p)], "get") end
    t.eq(on_replicas, 50, "every read went to a replica")
    t.eq(calls(plain[master], "get"), 0, "no read on the master")
    -- (A replica answers a read with MOVED unless the connection said READONLY.)
    t.eq(db:set(key, "w"), "OK", "a write with replica reads")
    t.eq(calls(plain[master], "set"), 1, "writes go to the master (replicas count it only once "
        .. "it is replicated)")

    local m = redis.cluster { nodes = lab.seeds }
    for _, p in ipairs(lab.ports) do plain[p]:config("resetstat") end
    for _ = 1, 10 do m:get(key) end
    t.eq(calls(plain[master], "get"), 10, "read_from = master: the master")
    t.raises({ "opts.read_from", "\"replicas\"" }, redis.cluster,
        { nodes = lab.seeds, read_from = "replicas" })
    t.raises({ "opts.nodes #1", "\"nope\"" }, redis.cluster, { nodes = { "nope" } })
    m:disconnect()
    db:disconnect()
end)
