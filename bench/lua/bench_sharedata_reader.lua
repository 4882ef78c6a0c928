-- A reader for bench_sharedata: "shared" reads the table in place, "copy" takes its own copy;
-- either way it reads every row, keeps what it read, and answers the sum of the prices.
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"

local held

skynet.start(function()
    skynet.dispatch("lua", function(_, _, mode)
        held = mode == "shared" and sharedata.query "bench" or sharedata.deepcopy "bench"
        local sum = 0
        for _, row in ipairs(held) do sum = sum + row.price + #row.tags - 2 end
        collectgarbage()
        skynet.retpack(sum)
    end)
end)
