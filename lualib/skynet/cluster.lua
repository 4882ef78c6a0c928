-- skynet.cluster: calls to services of other nodes (skynet's API; docs/lua-api.md, "Cluster").
--
-- A call goes to the link service of the peer node (clusterlink, made by the node's clusterd) as
-- a "cluster" message (protocol 13): the link frames it, and redirects the answer frame to this
-- service as the call's response. Errors of the link ("node X: connection lost: may or may not
-- have executed", "unknown node X", "node X: send queue full (N KB)", a message over
-- cluster_max_message) and the callee's own error text are raised as they are, without
-- skynet.call's "call to :x failed: " wrapper.
--
-- Yield: open, call, calltimeout, proxy, register, unregister, query, reload, nodes, leave, and the
-- first send to a node (it asks clusterd for the link). Thread: the calling service.
local skynet = require "skynet"

local format, type, error, tostring = string.format, type, error, tostring

local PTYPE_CLUSTER = 13
skynet.register_protocol {
    name = "cluster", id = PTYPE_CLUSTER, pack = skynet.pack, unpack = skynet.unpack,
}

local cluster = {}
local clusterd = nil  -- the handle of .clusterd
local links = {}      -- node -> link handle (cache)
local bulks = {}      -- node -> the link's clusterbulk (cache)
-- A call or send with a string argument longer than this goes to the link's clusterbulk, which
-- frames it there, so that the link is not held while small calls wait behind it.
local BULK = 256 * 1024

local function daemon()
    if not clusterd then clusterd = skynet.uniqueservice("clusterd") end
    return clusterd
end

-- Strips skynet.call's "<where>call to :x failed: " from an error of the link or the callee.
local function text_of(err)
    local s = tostring(err)
    return s:match("call to %S+ failed: (.*)$") or s
end

local function link_of(node)
    local l = links[node]
    if l then return l end
    local ok, h = pcall(skynet.call, daemon(), "lua", "LINK", node)
    if not ok then error(text_of(h), 3) end
    links[node] = h
    return h
end

-- l, or its clusterbulk when an argument is a string longer than BULK.
local function route(node, l, ...)
    for i = 1, select("#", ...) do
        local v = select(i, ...)
        if type(v) == "string" and #v > BULK then
            local b = bulks[node]
            if not b then
                b = skynet.call(l, "lua", "BULK")
                bulks[node] = b
            end
            return b
        end
    end
    return l
end

-- The call's results, or its error raised at the caller of cluster.call (level 2: this function
-- runs as a tail call of cluster.call).
local function result(node, ok, ...)
    if ok then return ... end
    local text = text_of(...)
    if text:find("service is dead", 1, true) == 1 then
        -- the link itself is gone (clusterd closed it): ask again next time
        links[node], bulks[node] = nil, nil
        text = format("unknown node %s", node)
    end
    error(text, 2)
end

local function timed_out(node, address, ok, ...)
    if ok then return ... end
    local text = text_of(...)
    local ms = text:match("timed out after (%d+) ms$")
    if ms then
        error(format("node %s: call to %s timed out after %s ms", node, tostring(address), ms), 2)
    end
    if text:find("service is dead", 1, true) == 1 then links[node] = nil end
    error(text, 2)
end

-- A call to this node itself (skynet allows it) goes straight to the service: `address` as a
-- local one (raises the remote texts: "service .x is dead", "unknown name @x").
local function local_target(address, level)
    if math.type(address) == "integer" then return address end
    if type(address) ~= "string" then
        error(format("bad cluster address %s (a handle or a name expected)", tostring(address)),
            level)
    end
    if address:sub(1, 1) == "@" then
        local ok, h = pcall(skynet.call, daemon(), "lua", "QUERYNAME", address:sub(2))
        if not ok then error(format("unknown name %s", address), level) end
        return h
    end
    local h = skynet.localname(address)
    if not h then error(format("service %s is dead", address), level) end
    return h
end

local function local_result(address, ok, ...)
    if ok then return ... end
    local text = text_of(...)
    if text == "service is dead" then text = format("service %s is dead", tostring(address)) end
    error(text, 2)
end

-- Serves calls from the peers: listens on cluster_listen (or the static list's address of
-- `name`, or port `port` on cluster_listen's host). -> the address listened on. Yields.
function cluster.open(name_or_port)
    local ok, r = pcall(skynet.call, daemon(), "lua", "OPEN", name_or_port)
    if not ok then error(text_of(r), 2) end
    return r
end

-- Yields.
function cluster.call(node, address, ...)
    local l = link_of(node)
    if l == 0 then
        return local_result(address, pcall(skynet.call, local_target(address, 2), "lua", ...))
    end
    return result(node, pcall(skynet.call, route(node, l, ...), "cluster", address, ...))
end

-- Yields.
function cluster.calltimeout(ms, node, address, ...)
    local l = link_of(node)
    if l == 0 then
        return timed_out(node, address,
            pcall(skynet.calltimeout, ms, local_target(address, 2), "lua", ...))
    end
    return timed_out(node, address, pcall(skynet.calltimeout, ms, l, "cluster", address, ...))
end

-- A push: no answer. Errors of the link (queue full, connection lost) are logged by the link.
-- Yields only for the first message to a node.
function cluster.send(node, address, ...)
    local l = link_of(node)
    if l == 0 then
        skynet.send(local_target(address, 2), "lua", ...)
        return
    end
    skynet.send(route(node, l, ...), "cluster", address, ...)
end

-- A local address forwarding "lua" calls and sends to address on node. Yields.
function cluster.proxy(node, address)
    if address == nil then
        node, address = node:match("^([^.@]+)([.@].*)$")
        if not node then error("cluster.proxy: node and address expected", 2) end
    end
    local ok, p = pcall(skynet.call, daemon(), "lua", "PROXY", node, address)
    if not ok then error(text_of(p), 2) end
    return p
end

-- Lets peers reach address (default: this service) as "@name". Yields.
function cluster.register(name, address)
    local ok, err = pcall(skynet.call, daemon(), "lua", "REGISTER", name, address or skynet.self())
    if not ok then error(text_of(err), 2) end
end

function cluster.unregister(name)
    skynet.call(daemon(), "lua", "UNREGISTER", name)
end

-- The handle registered as name on node. Yields.
function cluster.query(node, name)
    local l = link_of(node)
    if l == 0 then
        local ok, h = pcall(skynet.call, daemon(), "lua", "QUERYNAME", name)
        if not ok then error(text_of(h), 2) end
        return h
    end
    return result(node, pcall(skynet.call, l, "cluster", ".clusterd", "QUERYNAME", name))
end

-- For a clean stop (a node's ".shutdown" hook): leaves the membership at once, so that peers see
-- this node leave now rather than after cluster_ttl, and closes the links. Yields.
function cluster.leave()
    skynet.call(daemon(), "lua", "LEAVE")
end

-- Replaces the static node list (tbl: name -> "host:port"; nil: reads the config again). Yields.
function cluster.reload(tbl)
    local ok, err = pcall(skynet.call, daemon(), "lua", "RELOAD", tbl)
    if not ok then error(text_of(err), 2) end
end

-- The nodes known now: {name, address, epoch, since (ms)} sorted by name. Yields.
function cluster.nodes()
    return skynet.call(daemon(), "lua", "NODES")
end

-- f(what, node) for each node that joins ("join") or leaves ("leave") from now on, in a
-- coroutine of this service (a fork), until the node stops. Returns at once.
function cluster.watch(f)
    local seq = skynet.call(daemon(), "lua", "SEQ")
    skynet.fork(function()
        while true do
            local evs = skynet.call(daemon(), "lua", "WATCH", seq)
            if evs == "stopped" then return end -- the node is stopping
            for i = 1, #evs do
                seq = evs[i].seq
                f(evs[i].what, evs[i].node)
            end
        end
    end)
end

return cluster
