-- The Redis Cluster client against a real cluster (3 masters, 3 replicas): commands by name go
-- to the node that owns their slot, keyless ones to a master, multi-key commands, transactions
-- and scripts whose keys span slots are refused before anything is sent, pipelines across slots
-- keep the caller's order and shapes.
local skynet = require "skynet"
local t = require "tlib"
local redis = require "skynet.db.redis"
local lab = require "cluster_lab"

-- Plain clients of every master (they answer MOVED for keys they do not own).
local function masters()
    local out = {}
    for _, p in ipairs(lab.lab():masters()) do
        out[#out + 1] = { port = tonumber(p), db = redis.connect { port = tonumber(p) } }
    end
    return out
end

-- The masters that hold key (GETKEYSINSLOT answers on every node, from its own data).
local function holders(ms, key)
    local slot = redis.slot(key)
    local found = {}
    for _, m in ipairs(ms) do
        local list = m.db:command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        for _, k in ipairs(list) do
            if k == key then found[#found + 1] = m end
        end
    end
    return found
end

-- Calls of a command a node ran or refused (a CROSSSLOT refusal counts as rejected_calls).
local function calls(m, name)
    local info = m.db:info("commandstats")
    local ran, refused = info:match("cmdstat_" .. name .. ":calls=(%d+).-rejected_calls=(%d+)")
    return (tonumber(ran) or 0) + (tonumber(refused) or 0)
end

t.run(function()
    local db = redis.cluster { nodes = lab.seeds, timeout = 5000 }
    local ms = masters()
    t.eq(#ms, 3, "three masters")
    for _, m in ipairs(ms) do m.db:flushall() end

    -- Commands by name land on the owner of their slot, which answers them itself.
    for i = 1, 30 do
        local key = "key:" .. i
        t.eq(db:set(key, i), "OK", "set " .. key)
        local h = holders(ms, key)
        t.eq(#h, 1, key .. " on exactly one master")
        t.eq(h[1].db:get(key), tostring(i), key .. " read on its owner without a redirection")
        t.eq(db:get(key), tostring(i), "get " .. key)
    end
    t.eq(db.stats().moved, 0, "a fresh map: no MOVED")
    t.eq(db:incr("{k}n"), 1, "incr")
    t.eq(db:exists("{k}n"), true, "exists keeps skynet's boolean")
    t.eq(db:exists("{k}none"), false, "exists false")
    t.eq(db:ping(), "PONG", "a keyless command goes to a master")
    t.raises({ "redis cluster 127.0.0.1:", "SET: argument #1 is a boolean" }, db.set, db, true, 1)
    t.raises({ "pipeline: #2 GET: argument #1[1] is a boolean" }, db.pipeline, db,
        { { "set", "k", 1 }, { "get", { true } } })
    -- A table argument is spliced: its keys count.
    t.eq(db:mset({ "{t}1", 1, "{t}2", 2 }), "OK", "MSET of a spliced table")
    t.raises({ "MSET: keys in different slots (CROSSSLOT)", '"a" slot 15495' }, db.mset, db,
        { "a", 1, "b", 2 })

    -- Multi-key commands in one slot go; across slots they are refused before sending.
    t.eq(db:mset("{u}a", 1, "{u}b", 2), "OK", "mset in one slot")
    t.ok(t.same(db:mget("{u}a", "{u}b"), { "1", "2", n = 2 }), "db:mget(\"{u}a\"")
    for _, m in ipairs(ms) do m.db:config("resetstat") end
    local err = t.raises({ "MSET: keys in different slots (CROSSSLOT)", '"a" slot 15495',
        '"b" slot 3300', "redis cluster 127.0.0.1:" }, db.mset, db, "a", 1, "b", 2)
    t.eq(db:exists("a"), false, "a not created")
    t.eq(db:exists("b"), false, "b not created")
    for _, m in ipairs(ms) do t.eq(calls(m, "mset"), 0, "no MSET reached " .. m.port) end
    skynet.error(err)

    -- Transactions: one slot, one node.
    local v = db:transaction(function(tx)
        tx:set("{tx}a", 5)
        tx:incr("{tx}a")
        tx:get("{tx}a")
    end)
    t.eq(v[2], 6, "transaction incr")
    t.eq(v[3], "6", "transaction get")
    t.raises({ "MULTI/EXEC: keys in different slots (CROSSSLOT)", 'SET "a" slot 15495',
        'SET "b" slot 3300' }, db.transaction, db, function(tx)
            tx:set("a", 1)
            tx:set("b", 1)
        end)
    t.eq(db:exists("a"), false, "nothing of the refused transaction ran")

    -- Scripts go to their keys' node; EVALSHA falls back to EVAL there.
    local s = redis.script "return redis.call('INCRBY', KEYS[1], ARGV[1])"
    for i = 1, 10 do t.eq(s(db, 1, "script:" .. i, i), i, "script on key " .. i) end
    t.raises({ "EVALSHA: keys in different slots (CROSSSLOT)" }, s, db, 2, "a", "b", 1)

    -- A pipeline across slots: split per node, results in the caller's order and shapes.
    local ops = {}
    for i = 1, 20 do ops[#ops + 1] = { "set", "p:" .. i, i } end
    for i = 1, 20 do ops[#ops + 1] = { "incr", "p:" .. i } end
    for i = 1, 20 do ops[#ops + 1] = { "get", "p:" .. i } end
    ops[#ops + 1] = { "hget", "p:1", "f" }   -- WRONGTYPE in the middle of the batch
    ops[#ops + 1] = { "get", "p:20" }
    local res = db:pipeline(ops, {})
    t.eq(#res, 62, "one result per command")
    for i = 1, 20 do
        t.eq(res[i].out, "OK", "set " .. i)
        t.eq(res[20 + i].out, i + 1, "incr " .. i)
        t.eq(res[40 + i].out, tostring(i + 1), "get " .. i)
    end
    t.eq(res[61].ok, false, "the error in the middle")
    t.ok(res[61].out:find("WRONGTYPE", 1, true), res[61].out)
    t.eq(res[62].out, "21", "the last")
    t.eq(db:pipeline(ops), "21", "skynet's shape: the last reply")
    -- The builder (db:pipeline()) keeps its commands as lists here and splits them the same way.
    local b = db:pipeline()
    for i = 1, 20 do b:set("b:" .. i, i):incr("b:" .. i) end
    t.eq(b:get("b:7"):execute(), "8", "a built pipeline across slots")
    t.eq(b:count(), 0, "emptied by execute")
    local built = b:set("b:1", "x"):hget("b:1", "f"):get("b:2"):execute({})
    t.ok(#built == 3 and built[1].out == "OK" and not built[2].ok and built[3].out == "3",
        "a built pipeline's results in order")
    t.raises({ "pipeline #1 MULTI: use db:transaction" }, b.multi, b)
    t.raises({ "pipeline #1 GET: " }, b.get, b, true)
    local raw = redis.cluster { nodes = lab.seeds, replies = "raw" }
    local vals = raw:pipeline({ { "get", "p:1" }, { "get", "p:2" }, { "get", "p:3" } })
    t.ok(t.same(vals, { "2", "3", "4", n = 3 }), "raw pipeline values in order")
    t.raises({ "pipeline #2 HGET", "WRONGTYPE" }, raw.pipeline, raw,
        { { "get", "p:1" }, { "hget", "p:1", "f" } })
    t.raises({ "pipeline #2 MSET: keys in different slots (CROSSSLOT)" }, db.pipeline, db,
        { { "get", "a" }, { "mset", "a", 1, "b", 2 } })
    -- Refused before it is split: a name a pipeline may not carry, a command that is no table.
    t.raises({ "pipeline #2 MULTI: use db:transaction" }, db.pipeline, db,
        { { "set", "refused:1", "x" }, { "multi" } })
    t.raises({ "pipeline #2: a command is a table {name, args...}" }, db.pipeline, db,
        { { "set", "refused:1", "x" }, 7 })
    -- A command that would block a node's connection every coroutine shares: always, or with
    -- some arguments.
    t.raises({ "pipeline #2 BLPOP: BLPOP blocks the connection" }, db.pipeline, db,
        { { "set", "refused:1", "x" }, { "blpop", "refused:1", 1 } })
    t.raises({ "pipeline #2 XREAD: XREAD with BLOCK blocks" }, db.pipeline, db,
        { { "set", "refused:1", "x" }, { "xread", "BLOCK", 10, "STREAMS", "refused:1", "$" } })
    t.eq(db:exists("refused:1"), false, "nothing of the refused pipelines was sent")
    -- Checked whole before any node's part is sent: a bad argument after commands for every
    -- node, and a bad argument reported before a CROSSSLOT that comes earlier.
    local before = {}
    for i = 1, 12 do before[#before + 1] = { "set", "chk:" .. i, i } end
    before[#before + 1] = { "set", "chk:x", true }
    t.raises({ "pipeline: #13 SET: argument #2 is a boolean" }, db.pipeline, db, before)
    for i = 1, 12 do t.eq(raw:exists("chk:" .. i), 0, "nothing of it was sent: chk:" .. i) end
    t.raises({ "pipeline: #3 SET: argument #2 is a boolean" }, db.pipeline, db,
        { { "get", "a" }, { "mset", "a", 1, "b", 2 }, { "set", "c", false } })
    t.eq(raw:exists("p:1"), 1, "raw replies: EXISTS is an integer")

    -- A keyless command in a pipeline goes with the command before it: WAIT behind its write.
    for _, m in ipairs(ms) do m.db:config("resetstat") end
    local wr = db:pipeline({ { "set", "waited", 1 }, { "wait", 1, 100 } }, {})
    t.ok(wr[1].ok and wr[2].ok and math.type(wr[2].out) == "integer", "SET then WAIT")
    local owner = holders(ms, "waited")[1]
    for _, m in ipairs(ms) do
        t.eq(calls(m, "wait"), m == owner and 1 or 0, "WAIT on the write's master only")
    end
    t.raises({ "WAIT", "db:pipeline" }, db.wait, db, 1, 100)
    -- Keyless commands before the first keyed one go with it, in order; a keyless pipeline goes
    -- to a master.
    local kl = raw:pipeline({ { "ping" }, { "echo", "x" }, { "set", "waited", 2 }, { "ping" },
        { "get", "a" }, { "get", "waited" } })
    t.ok(t.same(kl, { "PONG", "x", "OK", "PONG", nil, "2", n = 6 }), "keyless commands in order")
    t.ok(t.same(raw:pipeline({ { "ping" }, { "echo", "y" } }), { "PONG", "y", n = 2 }),
        "a keyless pipeline")

    -- Blocking commands wait on the node of their key.
    db:rpush("{q}list", "x")
    t.ok(t.same(db:blpop("{q}list", 1), { "{q}list", "x", n = 2 }), "db:blpop(\"{q}list\"")

    local nodes = db:nodes()
    local slots, nm = 0, 0
    for _, n in ipairs(nodes) do
        if n.role == "master" then
            nm = nm + 1
            slots = slots + n.slots
        end
    end
    t.eq(nm, 3, "db:nodes() lists the masters")
    t.eq(slots, 16384, "they own every slot")
    raw:disconnect()

    -- Each node's connection checks the node's id in its handshake: a server that took over a
    -- dead node's address gets none of its commands.
    local connection = require "skynet.db.redis.connection"
    for _, n in pairs(db.conn.map.nodes) do
        if n.conn then
            t.eq(n.conn.cluster_id, lab.lab():id(n.port), n.addr .. " checked for its id")
        end
    end
    local p1 = lab.ports[1]
    local impostor = connection.new { port = p1, cluster_id = "0123456789abcdef" }
    t.raises({ "CLUSTER MYID: this is node " .. lab.lab():id(p1), "not 0123456789abcdef" },
        impostor.connect, impostor)
    local right = connection.new { port = p1, cluster_id = lab.lab():id(p1) }
    right:connect()
    t.eq(right:call("PING", "PING"), "PONG", "the right node")
    right:close()

    -- Seeds that fail: the next is asked; none answering raises, naming each.
    local garbage = "127.0.0.1:" .. lab.lab():garbage()
    local g = redis.cluster { nodes = { garbage, "127.0.0.1:1", lab.seeds[2] } }
    t.eq(g:set("g", 1), "OK", "a client whose first seeds are a garbage node and a closed port")
    g:disconnect()
    local text = t.raises({ "no slot map from any node", garbage, "127.0.0.1:1",
        "Connection refused" }, redis.cluster, { nodes = { garbage, "127.0.0.1:1" } })
    skynet.error(text)
    db:disconnect()
    t.raises({ "the client was closed" }, db.get, db, "x")
end)
