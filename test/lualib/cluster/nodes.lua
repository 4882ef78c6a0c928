-- The cluster settings of a node under with_nodes (not a test): its name and port, and the static
-- list of every node with_nodes started (SKYHIVE_TEST_NODES plus the test node, --self a).
local nodes = {}

local function env(name)
    local v = os.getenv(name)
    if not v then error(name .. " is not set (run under with_nodes)", 3) end
    return v
end

-- The options for clusterd's OPEN: name, listen, nodes, secret and short heartbeats.
function nodes.options(extra)
    local names = {}
    for n in env("SKYHIVE_TEST_NODES"):gmatch("%S+") do names[#names + 1] = n end
    names[#names + 1] = "a"
    local list = {}
    for _, n in ipairs(names) do
        local port = os.getenv("SKYHIVE_TEST_NODE_" .. n:upper() .. "_PORT")
        if port then list[n] = "127.0.0.1:" .. port end
    end
    local o = {
        name = env "SKYHIVE_TEST_NODE_NAME",
        listen = "127.0.0.1:" .. env "SKYHIVE_TEST_NODE_PORT",
        nodes = list,
        secret = "three nodes",
        heartbeat = 200,
        peer_timeout = 1000,
        max_message = 32 * 1024 * 1024,
    }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
end

function nodes.port(name)
    return tonumber(env("SKYHIVE_TEST_NODE_" .. name:upper() .. "_PORT"))
end

return nodes
