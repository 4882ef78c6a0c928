-- skynet.sharedata: data built once and read in place by every service through read-only
-- proxies; updates reach readers on their next read; versions are freed when the last reader
-- moves on; a service's memory does not grow by the data it reads.
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"
local core = require "skynet.sharedata.core"
local t = require "tlib"

local function items(n, price)
    local list = {}
    for i = 1, n do
        list[i] = { id = i, name = "item" .. i, price = price or i, tags = { "a", "b" } }
    end
    return list
end

t.run(function()
    local source = {
        title = "game data", version = 1, ratio = 0.5, [1.5] = "float key", [true] = "yes",
        list = { 10, 20, 30 }, nested = { deep = { deeper = { x = "bottom" } } },
        empty = {},
    }
    sharedata.new("conf", source)
    local conf = sharedata.query "conf"
    t.eq(conf.title, "game data", "string value")
    t.eq(conf.version, 1, "integer value")
    t.eq(math.type(conf.version), "integer", "integer stays integer")
    t.eq(conf.ratio, 0.5, "float value")
    t.eq(conf[1.5], "float key", "float key")
    t.eq(conf[true], "yes", "boolean key")
    t.eq(conf.missing, nil, "missing key")
    t.eq(conf.nested.deep.deeper.x, "bottom", "nested")
    t.eq(#conf.list, 3, "#")
    t.eq(conf.list[2.0], 20, "2.0 is the key 2")
    local seen = {}
    for i, v in ipairs(conf.list) do seen[i] = v end
    t.eq(table.concat(seen, ","), "10,20,30", "ipairs")
    t.eq(pairs(conf.empty)(conf.empty), nil, "empty table")
    local keys = 0
    for k, v in pairs(conf) do
        keys = keys + 1
        if type(v) == "table" then t.ok(type(rawget(v, k)) == "nil", "a proxy hides its fields") end
    end
    t.eq(keys, 8, "pairs sees every key")
    t.ok(conf.nested == conf.nested, "one proxy per nested table")
    t.ok(t.same(sharedata.deepcopy "conf", source), "deepcopy of the whole")
    t.ok(t.same(sharedata.deepcopy("conf", "nested", "deep"), source.nested.deep), "deepcopy part")
    t.eq(sharedata.deepcopy("conf", "title"), "game data", "deepcopy of a plain value")
    t.eq(sharedata.deepcopy("conf", "nope", "x"), nil, "deepcopy of a missing path")
    t.raises({ "sharedata: [conf] is read-only" }, function() conf.title = "x" end)
    t.raises({ "sharedata: [conf.list] is read-only" }, function() conf.list[4] = 1 end)

    -- Other services read the same data.
    local readers = {}
    for i = 1, 3 do readers[i] = skynet.newservice "helper_sharedata" end
    t.eq(skynet.call(readers[1], "lua", "GET", "conf", "nested", "deep", "deeper", "x"), "bottom",
        "another service reads it")
    t.ok(t.same(skynet.call(readers[2], "lua", "GET", "conf", "list"), { 10, 20, 30 }), "a copy")

    -- Lua source and "@file" make data too: the chunk's result, or the globals it set.
    sharedata.new("src", "return { a = 1, b = { 2, 3 } }")
    t.eq(sharedata.query("src").b[2], 3, "source returning a table")
    sharedata.new("globals", "speed = 7 limit = ...", 99)
    t.eq(sharedata.query("globals").speed, 7, "source setting globals")
    t.eq(sharedata.query("globals").limit, 99, "extra arguments reach the chunk")
    sharedata.new("none")
    local none = sharedata.query "none"
    t.eq(pairs(none)(none), nil, "nil makes an empty table")

    -- Errors name what and where.
    t.raises({ "sharedata.new: conf exists" }, sharedata.new, "conf", {})
    t.raises({ "sharedata.query: no data named nope" }, sharedata.query, "nope")
    -- (A table with a function or a cycle is refused by skynet.pack before it leaves the
    -- caller; data made from source reaches the builder.)
    t.raises({ "pack: cannot pack a function" }, sharedata.new, "bad", { f = print })
    t.raises({ "the value at monsters.2.ai is a function", "(in bad)" }, sharedata.new, "bad",
        "return { monsters = { {}, { ai = print } } }")
    t.raises({ "the table at a.back contains itself" }, sharedata.new, "loop",
        "local t = { a = {} } t.a.back = t return t")
    t.raises({ "a key in k is a table" }, sharedata.new, "tkey", "return { k = { [{}] = 1 } }")
    t.raises({ "sharedata: bad2: a boolean cannot be shared" }, sharedata.new, "bad2", true)
    t.raises({ "sharedata: syntax: " }, sharedata.new, "syntax", "return {")

    -- Update: readers see the new data on their next read, without a message; nested proxies
    -- follow; a nested table that vanished raises when read.
    local shop = items(3)
    sharedata.new("shop", shop)
    local p = sharedata.query "shop"
    local second = p[2]
    skynet.call(readers[1], "lua", "HOLD", "shop", 2)
    t.eq(skynet.call(readers[1], "lua", "HELD", "price"), 2, "held before update")
    t.eq(skynet.call(readers[2], "lua", "SUM", "shop"), 6, "sum before update")
    local before = core.versions()
    sharedata.update("shop", items(2, 100))
    t.eq(second.price, 100, "nested proxy follows the update")
    t.eq(#p, 2, "# after update")
    t.eq(skynet.call(readers[1], "lua", "HELD", "price"), 100, "the other service's held proxy")
    t.eq(skynet.call(readers[2], "lua", "SUM", "shop"), 200, "pairs after update")
    sharedata.update("shop", items(1, 5))
    t.raises({ "the key [shop.2] doesn't exist after update" }, function() return second.price end)
    t.eq(p[1].price, 5, "the root still reads")

    -- Versions are freed once no reader holds them: the readers that moved let go of the old
    -- ones; one that never reads again holds its version until it moves (flush) or exits.
    t.eq(skynet.call(readers[2], "lua", "SUM", "shop"), 5, "reader 2 on the newest")
    skynet.call(readers[1], "lua", "HOLD", "shop", 1)
    collectgarbage()
    t.eq(skynet.call(readers[1], "lua", "HELD", "price"), 5, "reader 1 on the newest")
    skynet.call(readers[1], "lua", "MEM")  -- collects its dropped proxies
    t.eq(core.versions(), before, "two updates later, only the newest shop is alive")
    sharedata.delete "shop"
    t.eq(p[1].price, 5, "readers keep the data after delete")
    t.raises({ "sharedata.query: no data named shop" }, skynet.call, readers[3], "lua", "GET",
        "shop")

    -- Reading in place: a service that walks 1 MB of shared data grows by far less than the
    -- data, unlike one holding a copy.
    sharedata.new("big", items(8000))
    local mem0 = skynet.call(readers[3], "lua", "MEM")
    t.eq(skynet.call(readers[3], "lua", "SUM", "big"), 8000 * 8001 // 2, "sum over 8,000 rows")
    local mem1 = skynet.call(readers[3], "lua", "MEM")
    local copy = #skynet.call(readers[3], "lua", "GET", "big")
    t.eq(copy, 8000, "the copy")
    skynet.error(string.format("sharedata: reader grew by %d bytes after reading in place",
        mem1 - mem0))
    t.ok(mem1 - mem0 < 100 * 1024, "reading in place keeps the reader under 100 KB")
end)
