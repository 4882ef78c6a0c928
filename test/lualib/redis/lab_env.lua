-- Shared by cluster_lab and sentinel_lab (not a test itself): what a harness program
-- (with_cluster, with_sentinel) hands the test it runs, through the environment.
local redis = require "skynet.db.redis"

local M = {}

-- The port numbers listed in the environment variable `var`; raises naming the harness the
-- test must run under when it is not set.
function M.ports(var, harness)
    local list = {}
    for p in assert(os.getenv(var), var .. " is not set (run under " .. harness .. ")")
            :gmatch("%d+") do
        list[#list + 1] = tonumber(p)
    end
    return list
end

-- A function returning the connection to the harness's control port (SKYHIVE_TEST_LAB_PORT),
-- made on the first call; each command yields until the harness has done it.
function M.control(harness, timeout)
    local lab
    return function()
        if not lab then
            lab = redis.connect { port = assert(tonumber(os.getenv "SKYHIVE_TEST_LAB_PORT"),
                "SKYHIVE_TEST_LAB_PORT is not set (run under " .. harness .. ")"),
                timeout = timeout }
        end
        return lab
    end
end

-- A plain client of one server (not following a cluster or a sentinel).
function M.direct(port)
    return redis.connect { port = port, timeout = 5000 }
end

return M
