-- For test_sharedata_race: READ n reads every row of "race" n times, yielding between passes,
-- and answers how many rows it read and the newest version it saw. Each row's tag is
-- "<version>:<price>" with price = version * id, so a row read from freed or mixed memory shows.
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"

skynet.start(function()
    skynet.dispatch("lua", function(_, _, _, passes)
        local data = sharedata.query "race"
        local rows, newest = 0, 0
        for _ = 1, passes do
            for id, row in ipairs(data) do
                local version, price = row.tag:match("^(%d+):(%d+)$")
                version, price = tonumber(version), tonumber(price)
                if price ~= version * id then
                    error(string.format("row %d reads %q", id, row.tag))
                end
                if version > newest then newest = version end
                rows = rows + 1
            end
            skynet.yield()
        end
        skynet.retpack(rows, newest)
    end)
end)
