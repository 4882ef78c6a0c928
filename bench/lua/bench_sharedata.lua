-- RSS of n services reading one table of `rows` rows (2,200: about 1 MB as a Lua table), either in
-- place through skynet.sharedata ("shared") or each from its own copy ("copy"). Prints one line:
--   sharedata.rss mode=M services=N rows=R table_kb=K idle_mb=I read_mb=T read_kb_per_service=P
-- table_kb: the table's size in one Lua state; idle_mb: process RSS growth for the n services
-- launched and idle; read_mb: the growth once each has read every row and keeps its table (the
-- proxy, or its copy). bench/lua/sharedata_rss.sh runs both modes and prints the ratio.
-- Usage (from the repository root): skyhive <config with start = "bench_sharedata MODE N ROWS">
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"

local mode, n, rows = ...
n, rows = tonumber(n) or 1000, tonumber(rows) or 2200
assert(mode == "shared" or mode == "copy", "mode is shared or copy")

local function rss()
    local f = assert(io.open("/proc/self/statm"))
    local _, resident = f:read("n", "n")
    f:close()
    return resident * 4096
end

local function make(count)
    local list = {}
    for i = 1, count do
        list[i] = { id = i, name = "item" .. i, price = i * 3, weight = i * 0.25,
            tags = { "weapon", "tier" .. i % 7 }, desc = string.rep("x", 40) .. i }
    end
    return list
end

skynet.start(function()
    collectgarbage()
    local kb0 = collectgarbage "count"
    local data = make(rows)
    local table_kb = collectgarbage "count" - kb0
    sharedata.new("bench", data)
    data = nil
    collectgarbage()
    local readers = {}
    local rss0 = rss()
    for i = 1, n do readers[i] = skynet.newservice "bench_sharedata_reader" end
    local rss1 = rss()
    local expected = 0
    for i = 1, rows do expected = expected + i * 3 end
    for i = 1, n do
        local sum = skynet.call(readers[i], "lua", mode)
        assert(sum == expected, "a reader read the wrong data")
    end
    local rss2 = rss()
    print(string.format("sharedata.rss mode=%s services=%d rows=%d table_kb=%.0f idle_mb=%.1f " ..
        "read_mb=%.1f read_kb_per_service=%.1f", mode, n, rows, table_kb, (rss1 - rss0) / 2^20,
        (rss2 - rss1) / 2^20, (rss2 - rss1) / 1024 / n))
    skynet.abort(0)
end)
