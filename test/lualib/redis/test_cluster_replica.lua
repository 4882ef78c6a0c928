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
    local db = redis.cluster { nodes = lab.seeds, read_from = "replica" }
    local key = "r:1"
    t.eq(db:set(key, "v"), "OK", "a write")
    -- The master of the key's slot and its replicas, as the client's map says.
    local master, replicas
    for _, n in ipairs(db:nodes()) do
        if n.role == "master" and n.slots > 0 and plain[tonumber(n.addr:match(":(%d+)$"))]
            :command("CLUSTER", "COUNTKEYSINSLOT", redis.slot(key)) > 0 then
            master = tonumber(n.addr:match(":(%d+)$"))
        end
    end
    t.ok(master, "the key's master")
    replicas = ctl:replicas(master)
    t.ok(#replicas > 0, "it has a replica")
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
