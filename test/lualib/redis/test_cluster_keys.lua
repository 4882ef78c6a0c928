-- The key rules of the Redis Cluster client (cluster_keys.lua), built from a real server's
-- COMMAND reply: first/last/step commands, the movable-keys rules, subcommands, keyless
-- commands, read-only flags, and the CROSSSLOT text.
local t = require "tlib"
local redis = require "skynet.db.redis"
local keys = require "skynet.db.redis.cluster_keys"

local port = assert(tonumber(os.getenv "SKYHIVE_TEST_REDIS_PORT"), "SKYHIVE_TEST_REDIS_PORT")

t.run(function()
    local db = redis.connect { port = port }
    local specs = keys.new(db:command("COMMAND"))
    local function slot(...)
        return keys.slot(specs, table.pack(...))
    end
    local a, b = redis.slot("a"), redis.slot("b")
    t.eq(a, 15495, "slot a")
    t.eq(b, 3300, "slot b")

    t.eq(slot("GET", "a"), a, "GET")
    t.eq(select(2, slot("GET", "a")), true, "GET is read-only")
    t.eq(select(2, slot("SET", "a", 1)), false, "SET is not")
    t.eq(slot("get", "a"), a, "lower-case names")
    t.eq(slot("SET", 42, 1), redis.slot("42"), "a number key hashes as its text")
    t.eq(slot("PING"), -1, "keyless")
    t.eq(slot("SCRIPT", "LOAD", "return 1"), -1, "keyless subcommand")
    t.eq(slot("NOSUCH", "a"), -1, "unknown command: no key known")
    t.eq(slot("MSET", "{x}1", 1, "{x}2", 2), redis.slot("x"), "MSET: every other argument")
    t.eq(slot("MGET", "{x}1", "{x}2"), redis.slot("x"), "MGET: to the last")
    t.eq(slot("MGET", { "{x}1", "{x}2" }), redis.slot("x"), "a table argument is spliced")
    t.eq(slot("DEL", "{x}1", { "{x}2", "{x}3" }), redis.slot("x"), "spliced among others")
    t.eq(slot("DEL", "a", { "b" }), nil, "a spliced key in another slot")
    t.eq(slot("EVAL", "s", 1, { "a", "b" }), a, "EVAL with a spliced key and argument")
    t.eq(slot("OBJECT", "ENCODING", "a"), a, "a subcommand's key")
    t.eq(slot("XINFO", "STREAM", "a"), a, "XINFO STREAM")

    local function refused(...)
        local s, err = slot(...)
        t.eq(s, nil, "refused: " .. tostring((...)))
        return err
    end
    local err = refused("MSET", "a", 1, "b", 2)
    t.eq(err, 'MSET: keys in different slots (CROSSSLOT): "a" slot 15495, "b" slot 3300', "text")
    -- The values of MSET are not keys.
    t.eq(slot("MSET", "a", "b"), a, "MSET's values are not keys")

    -- Movable keys.
    t.eq(slot("EVAL", "return 1", 0), -1, "EVAL without keys")
    t.eq(slot("EVAL", "return 1", 1, "a", "b"), a, "EVAL: numkeys, then ARGV (b is an argument)")
    refused("EVALSHA", "x", 2, "a", "b")
    refused("FCALL_RO", "f", 2, "a", "b")
    t.eq(slot("XREAD", "COUNT", 1, "STREAMS", "a", "b", "0", "0"), nil, "XREAD: two streams")
    t.eq(slot("XREAD", "STREAMS", "a", "b"), a, "XREAD: one stream (b is its id)")
    t.eq(slot("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", ">"), a, "XREADGROUP")
    refused("ZUNIONSTORE", "a", 1, "b")
    t.eq(slot("ZUNIONSTORE", "{x}d", 2, "{x}1", "{x}2", "WEIGHTS", 1, 2), redis.slot("x"),
        "ZUNIONSTORE: dest and numkeys keys, not the options")
    refused("ZUNION", 2, "a", "b")
    t.eq(slot("ZUNION", 1, "a", "WITHSCORES"), a, "ZUNION")
    refused("SINTERCARD", 2, "a", "b")
    refused("LMPOP", 2, "a", "b", "LEFT")
    t.eq(slot("BLMPOP", 0, 1, "a", "LEFT"), a, "BLMPOP: timeout first")
    refused("BZMPOP", 0, 2, "a", "b", "MIN")
    refused("SORT", "a", "STORE", "b")
    t.eq(slot("SORT", "a", "LIMIT", 0, 1), a, "SORT without STORE")
    refused("GEORADIUS", "a", 0, 0, 1, "km", "STORE", "b")
    refused("GEORADIUSBYMEMBER", "a", "m", 1, "km", "STOREDIST", "b")
    t.eq(slot("MIGRATE", "h", 1, "a", 0, 100), a, "MIGRATE one key")
    refused("MIGRATE", "h", 1, "", 0, 100, "KEYS", "a", "b")
    refused("RENAME", "a", "b")
    refused("SMOVE", "a", "b", "m")
    refused("BLMOVE", "a", "b", "LEFT", "LEFT", 0)

    -- Transactions and batches.
    local tx = { { "MULTI", n = 1 }, { "SET", "{x}1", 1, n = 3 }, { "INCR", "{x}2", n = 2 },
        { "EXEC", n = 1 } }
    t.eq(keys.batch_slot(specs, tx, "MULTI/EXEC"), redis.slot("x"), "a transaction's slot")
    tx[3] = { "INCR", "b", n = 2 }
    local s, e = keys.batch_slot(specs, tx, "MULTI/EXEC")
    t.eq(s, nil, "a transaction across slots")
    t.eq(e, 'MULTI/EXEC: keys in different slots (CROSSSLOT): SET "{x}1" slot '
        .. redis.slot("x") .. ', INCR "b" slot 3300', "its text")
    t.eq(keys.batch_slot(specs, { { "MULTI" }, { "PING" }, { "EXEC" } }, "MULTI/EXEC"), -1,
        "a keyless transaction")
    db:disconnect()
end)
