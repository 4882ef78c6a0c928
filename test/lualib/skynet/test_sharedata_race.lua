-- skynet.sharedata under concurrency: readers on both workers loop over the data while it is
-- updated 40 times; every row they read is whole, they end on the newest version, and every
-- replaced version is freed once they have moved on (run under TSan/ASan too).
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"
local core = require "skynet.sharedata.core"
local t = require "tlib"

local ROWS, UPDATES, READERS = 200, 40, 4

local function version(v)
    local rows = {}
    for id = 1, ROWS do rows[id] = { tag = v .. ":" .. v * id } end
    return rows
end

t.run(function()
    sharedata.new("race", version(1))
    local base = core.versions()
    local readers, results, done = {}, {}, 0
    for i = 1, READERS do readers[i] = skynet.newservice "helper_sharedata_loop" end
    for i = 1, READERS do
        skynet.fork(function()
            results[i] = { skynet.call(readers[i], "lua", "READ", 60) }
            done = done + 1
        end)
    end
    for v = 2, UPDATES + 1 do
        sharedata.update("race", version(v))
        skynet.yield()
    end
    t.wait_until(function() return done == READERS end, 2000, "readers")
    for i = 1, READERS do
        t.eq(results[i][1], 60 * ROWS, "reader " .. i .. " read every row of every pass")
        skynet.error(string.format("reader %d: newest version seen while updates ran: %d", i,
            results[i][2]))
    end
    -- One more pass each: they all reach the newest version and let go of the older ones.
    for i = 1, READERS do
        local rows, newest = skynet.call(readers[i], "lua", "READ", 1)
        t.eq(rows, ROWS, "last pass")
        t.eq(newest, UPDATES + 1, "reader " .. i .. " ends on the newest version")
    end
    local p = sharedata.query "race"
    t.eq(p[ROWS].tag, (UPDATES + 1) .. ":" .. (UPDATES + 1) * ROWS, "this service too")
    t.eq(core.versions(), base, "only the newest version is alive")
end, 6000)
