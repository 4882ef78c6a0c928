-- The Redis Cluster with_cluster starts, through plain clients of its nodes and cluster_lab (no
-- cluster client): every node says ok with the full-coverage setting asked for, 3 masters with a
-- replica each own the 16384 slots, a node answers MOVED for another shard's key, the writer's
-- acknowledged writes read back, the garbage node breaks the protocol, and the control port names
-- what is wrong with a bad request.
local redis = require "skynet.db.redis"
local t = require "tlib"
local lab = require "cluster_lab"

t.run(function()
    local L = lab.lab()
    t.eq(#lab.ports, 6, "nodes started")
    t.eq(#lab.seeds, 6, "seeds")
    t.eq(lab.seeds[1], "127.0.0.1:" .. lab.ports[1], "seed form")
    local coverage = lab.full_coverage and "yes" or "no"
    for _, p in ipairs(lab.ports) do
        local db = lab.direct(p)
        local info = db:cluster("info")
        t.ok(info:find("cluster_state:ok", 1, true), p .. " says cluster_state:ok: " .. info)
        t.eq(db:config("get", "cluster-require-full-coverage")[2], coverage,
            p .. " cluster-require-full-coverage")
        db:disconnect()
    end

    local masters = L:masters()
    t.eq(#masters, 3, "masters")
    local total, nodes = 0, #masters
    for _, m in ipairs(masters) do
        total = total + L:slots(m)
        local replicas = L:replicas(m)
        t.eq(#replicas, 1, "replicas of " .. m)
        nodes = nodes + #replicas
    end
    t.eq(total, 16384, "slots owned by the masters")
    t.eq(nodes, 6, "every node is a master or a replica of one")
    t.eq(L:owner(0), masters[1], "masters() starts with slot 0's owner")
    t.eq(L:owner(16383), masters[3], "and ends with slot 16383's")

    -- Keys of the second shard, written through a plain client of its master.
    local m = masters[2]
    local db = lab.direct(m)
    local mine, other = {}, nil
    for i = 1, 200 do
        local key = "k" .. i
        if L:owner(db:cluster("keyslot", key)) == m then
            if #mine < 8 then mine[#mine + 1] = key end
        elseif not other then
            other = key
        end
        if #mine == 8 and other then break end
    end
    t.eq(#mine, 8, "keys of the shard found")
    t.raises({ "MOVED" }, db.get, db, other)
    for _, op in ipairs { "incr", "set" } do
        local w = lab.writer(db, 4, { keys = mine, op = op, prefix = "{" .. mine[1] .. "}" })
        t.wait_until(function() return w.acked >= 200 end, 500, "200 " .. op .. " acknowledged")
        w.stop()
        t.eq(w.failed, 0, op .. " failures: " .. table.concat(w.samples, "; "))
        local lost, extra = w.check(db)
        t.eq(lost, 0, op .. ": acknowledged writes missing")
        t.eq(extra, 0, op .. ": writes nobody acknowledged")
        t.ok(w.percentile(99) > 0, op .. " latency measured")
    end

    local g = redis.connect { port = L:garbage(), timeout = 2000 }
    t.raises({ "malformed RESP" }, g.ping, g)

    t.raises({ "'nope' is not a port" }, L.kill, L, "nope")
    t.raises({ "no node 127.0.0.1:1 in the cluster" }, L.slots, L, 1)
    t.raises({ "unknown command" }, L.command, L, "frobnicate")
    t.eq(L:waitok(5000), "OK", "still ok")
end)
