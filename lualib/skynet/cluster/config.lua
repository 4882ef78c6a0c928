-- The cluster's config keys, read and checked in one place for clusterd and the membership:
--   cluster_name = "node1"          this node's name among its peers
--   cluster_listen = "h:p"          where it serves its peers (default "127.0.0.1:0": loopback,
--                                   any free port)
--   cluster_secret = "..."          the peers' shared secret (or the environment variable
--                                   SKYHIVE_CLUSTER_SECRET); unset: loopback peers only
--   cluster_nodes = "a=h:p,b=h:p"   a static node list, for deployments without Redis membership
--   cluster = "clustername.lua"     skynet's clustername file: `name = "host:port"` lines (a node
--                                   set to false is known and down), read again at each reload
--   cluster_ttl                     ms a membership record lives without renewal (3000)
--   cluster_heartbeat               ms between pings on an idle link (1000)
--   cluster_peer_timeout            ms of silence after which a peer is dead (3000)
--   cluster_max_message             largest message in bytes (16 MB)
--   cluster_send_queue              KB a link may queue before calls fail (65536)
--   cluster_max_serving             calls of one peer that this node's services may be
--                                   answering at once; more are refused (65536)
-- services/config_keys.cpp declares the same keys for the check at start-up; the checks here
-- cover what changes later (the file at a reload, a table given to cluster.reload).
--
-- Thread: any service. Nothing here yields.
local skynet = require "skynet"

local M = {}

-- The environment variable that may hold the secret instead of the config (kept out of files).
M.SECRET_ENV = "SKYHIVE_CLUSTER_SECRET"

M.DEFAULTS = {
    listen = "127.0.0.1:0",
    ttl = 3000,
    heartbeat = 1000,
    peer_timeout = 3000,
    max_message = 16 * 1024 * 1024,
    send_queue_kb = 65536,
    max_serving = 65536,
}

local function quoted(v)
    return "'" .. tostring(v) .. "'"
end

-- What is wrong with `text` as "host:port" or "[v6]:port", or nil when it fits.
function M.address_problem(text)
    if type(text) ~= "string" then return "not a string" end
    local host, port = text:match("^(.*):([^:]*)$")
    if not host then return "no port" end
    local v6 = host:match("^%[(.*)%]$")
    if v6 then host = v6 end
    if host == "" then return "no host" end
    if host:find("[%[%]%s]") then return "a bad host" end
    if not port:match("^%d+$") then return "a port that is not a number" end
    if tonumber(port) > 65535 then return "a port over 65535" end
    return nil
end

-- Whether `name` can name a node: 1 to 64 letters, digits, '_' or '-'.
function M.is_name(name)
    return type(name) == "string" and #name <= 64 and name:match("^[%w_-]+$") ~= nil
end

-- The static list of cluster_nodes ("a=h:p, b=h:p"): name -> "host:port". Raises
-- "config cluster_nodes: expected a list of "name=host:port", entry 'x' ..." naming the entry.
function M.parse_nodes(text, key)
    key = key or "cluster_nodes"
    local function bad(what)
        error(string.format('config %s: expected a list of "name=host:port", %s', key, what), 0)
    end
    local nodes, n = {}, 0
    for item in tostring(text):gmatch("[^,%s]+") do
        local name, addr = item:match("^([^=]*)=(.*)$")
        if not name then bad("entry " .. quoted(item) .. " has no '='") end
        if not M.is_name(name) then
            bad("entry " .. quoted(item) .. " has a name that is not 1 to 64 letters, digits, '_' or '-'")
        end
        local problem = M.address_problem(addr)
        if problem then bad("entry " .. quoted(item) .. " has " .. problem) end
        if nodes[name] then bad("entry " .. quoted(item) .. " names " .. quoted(name) .. " a second time") end
        nodes[name] = addr
        n = n + 1
    end
    if n == 0 then bad("got " .. quoted(text)) end
    return nodes
end

-- Checks a node table as skynet's clustername file or cluster.reload(t) gives it: name ->
-- "host:port" or false (known, down); keys starting with "__" are options (skynet's
-- __nowaiting). -> nodes, options. `where(name)` says where an entry comes from, for errors
-- ("config cluster = 'f': f:3: "); raises "<where>entry 'x': expected ..." naming the entry.
function M.check_nodes(t, where)
    where = where or function() return "" end
    local nodes, options = {}, {}
    local names = {}
    for name in pairs(t) do names[#names + 1] = tostring(name) end
    table.sort(names)
    for _, name in ipairs(names) do
        local v = t[name]
        if name:sub(1, 2) == "__" then
            if name ~= "__nowaiting" then
                error(where(name) .. "unknown option '" .. name .. "' (skynet's __nowaiting is the only one)", 0)
            end
            if type(v) ~= "boolean" then
                error(where(name) .. "option '__nowaiting': expected true or false, got " .. quoted(v), 0)
            end
            options.nowaiting = v
        elseif not M.is_name(name) then
            error(where(name) .. "entry " .. quoted(name)
                .. ": a node name is 1 to 64 letters, digits, '_' or '-'", 0)
        elseif v ~= false then
            local problem = M.address_problem(v)
            if problem then
                error(string.format('%sentry %s: expected "host:port" or false, got %s (%s)',
                    where(name), quoted(name), quoted(v), problem), 0)
            end
            nodes[name] = v
        else
            nodes[name] = false
        end
    end
    return nodes, options
end

-- Reads skynet's clustername file: a Lua chunk of `name = "host:port"` lines. -> nodes,
-- options (see check_nodes). Errors name the key, the file, the line and the entry.
function M.load_file(path, key)
    key = key or "cluster"
    local prefix = string.format("config %s = %q: ", key, path)
    local values, lines = {}, {}
    local env = setmetatable({}, {
        __index = values,
        __newindex = function(_, k, v)
            local info = debug.getinfo(2, "l")
            lines[k] = info and info.currentline or 0
            values[k] = v
        end,
    })
    local chunk, err = loadfile(path, "t", env)
    if not chunk then error(prefix .. tostring(err), 0) end
    local ok, run_err = pcall(chunk)
    if not ok then error(prefix .. tostring(run_err), 0) end
    return M.check_nodes(values, function(name)
        return string.format("%s%s:%d: ", prefix, path, lines[name] or 0)
    end)
end

local function reader(getenv)
    if getenv == nil then return skynet.getenv end
    if type(getenv) == "table" then
        local t = getenv
        return function(k) return t[k] end
    end
    return getenv
end

-- The static node list of the config: cluster_nodes and the cluster file together (read now:
-- call again to reload). -> nodes (name -> "host:port" | false), options. A node both lists
-- name with different addresses is an error naming both.
function M.static_nodes(getenv)
    getenv = reader(getenv)
    local nodes, options = {}, {}
    local text = getenv "cluster_nodes"
    if text then nodes = M.parse_nodes(text) end
    local path = getenv "cluster"
    if path then
        local from_file
        from_file, options = M.load_file(path)
        for name, addr in pairs(from_file) do
            if nodes[name] ~= nil and nodes[name] ~= addr then
                error(string.format("config: node %s is %s in cluster_nodes but %s in %s", name,
                    quoted(nodes[name]), quoted(addr), path), 0)
            end
            nodes[name] = addr
        end
    end
    return nodes, options
end

local function integer(getenv, key, default, min)
    local v = getenv(key)
    if v == nil then return default end
    local n = math.tointeger(tonumber(v))
    if not n or n < min then
        error(string.format("config %s: expected an integer of at least %d, got %s", key, min,
            quoted(v)), 0)
    end
    return n
end

-- The cluster's settings from the config, defaults filled in: name (nil when unset), listen,
-- secret (nil when neither the key nor SKYHIVE_CLUSTER_SECRET is set), ttl, heartbeat,
-- peer_timeout (ms), max_message (bytes), send_queue_kb, max_serving.
function M.settings(getenv)
    getenv = reader(getenv)
    local d = M.DEFAULTS
    local s = {
        name = getenv "cluster_name",
        listen = getenv "cluster_listen" or d.listen,
        secret = getenv "cluster_secret" or os.getenv(M.SECRET_ENV),
        ttl = integer(getenv, "cluster_ttl", d.ttl, 100),
        heartbeat = integer(getenv, "cluster_heartbeat", d.heartbeat, 10),
        peer_timeout = integer(getenv, "cluster_peer_timeout", d.peer_timeout, 20),
        max_message = integer(getenv, "cluster_max_message", d.max_message, 1024),
        send_queue_kb = integer(getenv, "cluster_send_queue", d.send_queue_kb, 1),
        max_serving = integer(getenv, "cluster_max_serving", d.max_serving, 1),
    }
    if s.secret == "" then s.secret = nil end
    if s.name ~= nil and not M.is_name(s.name) then
        error("config cluster_name: expected 1 to 64 letters, digits, '_' or '-', got " .. quoted(s.name), 0)
    end
    local problem = M.address_problem(s.listen)
    if problem then
        error(string.format('config cluster_listen: expected "host:port", got %s (%s)',
            quoted(s.listen), problem), 0)
    end
    if s.peer_timeout <= s.heartbeat then
        error(string.format("config cluster_peer_timeout: %d ms is not more than cluster_heartbeat "
            .. "(%d ms): a quiet peer would be declared dead between two pings", s.peer_timeout,
            s.heartbeat), 0)
    end
    return s
end

return M
