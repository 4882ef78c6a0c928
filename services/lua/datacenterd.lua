-- The datacenter service behind skynet.datacenter (lualib/skynet/datacenter.lua): one tree of
-- values for the whole node, addressed by paths of keys. Launched by the first datacenter call
-- (uniqueservice "datacenterd"); it also takes skynet's name "DATACENTER".
--   QUERY k1 [k2 ...]          -> the value at the path, or nil
--   UPDATE k1 [k2 ...] value   -> the value it replaces (nil deletes); tables are made along the
--                                 path; waiters whose path now has a value are answered
--   WAIT k1 [k2 ...]           -> the value at the path, answered once it is not nil
local skynet = require "skynet"

local select, type, tostring, concat = select, type, tostring, table.concat

local database = {}
local waiters = {}  -- first key -> list of { path = {k1, k2, ...}, respond = response() }

local function describe(path, n)
    local parts = {}
    for i = 1, n do parts[i] = tostring(path[i]) end
    return concat(parts, ".")
end

local function not_a_table(what, path, i, v)
    error(string.format("datacenter.%s: %s is a %s, not a table", what, describe(path, i), type(v)),
        0)
end

-- The value at path[1..n], nil when a key along it is missing.
local function lookup(path, n, what)
    local node = database
    for i = 1, n do
        if node == nil then return nil end
        if type(node) ~= "table" then not_a_table(what, path, i - 1, node) end
        node = node[path[i]]
    end
    return node
end

local function check_keys(what, path, n)
    if n <= 0 then
        error("datacenter." .. what .. " needs a key" .. (what == "set" and " and a value" or ""), 0)
    end
    for i = 1, n do
        if path[i] == nil then
            error(string.format("datacenter.%s: key %d of the path is nil", what, i), 0)
        end
    end
end

local function wake(first)
    local list = waiters[first]
    if not list then return end
    local keep = {}
    for _, w in ipairs(list) do
        -- A waiter whose path crosses a non-table now gets that error.
        local ok, v = pcall(lookup, w.path, #w.path, "wait")
        if not ok then
            w.respond(false, v)
        elseif v ~= nil then
            w.respond(true, v)
        else
            keep[#keep + 1] = w
        end
    end
    waiters[first] = #keep > 0 and keep or nil
end

local CMD = {}

function CMD.QUERY(...)
    local n = select("#", ...)
    local path = { ... }
    check_keys("get", path, n)
    return skynet.retpack(lookup(path, n, "get"))
end

function CMD.UPDATE(...)
    local n = select("#", ...) - 1
    local path = { ... }
    check_keys("set", path, n)
    local value = path[n + 1]
    local node = database
    for i = 1, n - 1 do
        local next_node = node[path[i]]
        if next_node == nil then
            if value == nil then return skynet.retpack(nil) end  -- deleting what is not there
            next_node = {}
            node[path[i]] = next_node
        elseif type(next_node) ~= "table" then
            not_a_table("set", path, i, next_node)
        end
        node = next_node
    end
    local old = node[path[n]]
    node[path[n]] = value
    skynet.retpack(old)
    if value ~= nil then wake(path[1]) end
end

function CMD.WAIT(...)
    local n = select("#", ...)
    local path = { ... }
    check_keys("wait", path, n)
    local v = lookup(path, n, "wait")
    if v ~= nil then return skynet.retpack(v) end
    local list = waiters[path[1]]
    if not list then
        list = {}
        waiters[path[1]] = list
    end
    list[#list + 1] = { path = path, respond = skynet.response() }
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error("datacenterd: unknown command " .. tostring(cmd), 0) end
        f(...)
    end)
    skynet.register "DATACENTER"
end)
