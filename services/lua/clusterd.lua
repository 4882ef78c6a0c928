-- clusterd: the cluster service of a node (unique, ".clusterd"; skynet.cluster starts it).
--
-- Owns: the config (cluster_* keys, or the table given to OPEN), the listener and the first
-- handshake frame of every accepted connection, the node list (a static list: cluster_nodes or
-- skynet's `cluster` file, reloadable; or the membership in Redis), the names registered with
-- cluster.register, the proxies, and one clusterlink service per peer node, which it creates on
-- first use and hands accepted connections to once their HELLO names the peer.
-- Thread: this service only.
local skynet = require "skynet"
local socket = require "skynet.socket"
local crypt = require "skynet.crypt"
local frame = require "skynet.cluster.frame"

local format, sunpack = string.format, string.unpack

local conf = nil        -- name, listen, epoch, secret, heartbeat, peer_timeout, max_message,
                        -- send_queue_kb, part
local nodes = {}        -- name -> {address, epoch (membership), since (ms)}
local static = true     -- nodes come from a static list (else from the membership)
local membership = nil  -- the membership object (Redis) when used
local links = {}        -- name -> clusterlink handle
local names = {}        -- "@name" -> handle (cluster.register)
local proxies = {}      -- "node\0address" -> clusterproxy handle
local listener = nil
local listen_address = nil
local events = {}       -- join/leave events for watchers, in order: {seq, what, record}
local event_seq = 0
local watchers = {}     -- response functions of WATCH calls waiting for the next event

local function env_number(key, default)
    local v = skynet.getenv(key)
    if v == nil or v == "" then return default end
    local n = math.tointeger(tonumber(v))
    if not n or n <= 0 then error(format("config key %s: a positive integer expected, got %q", key,
        tostring(v)), 0) end
    return n
end

-- "a=127.0.0.1:9001,b=127.0.0.1:9002" (or a table name -> "host:port") -> table.
local function parse_nodes(v, where)
    local t = {}
    if type(v) == "table" then
        for k, a in pairs(v) do t[k] = a end
        return t
    end
    for item in tostring(v):gmatch("[^,%s]+") do
        local name, addr = item:match("^([^=]+)=(.+)$")
        if not name or not addr:match(":%d+$") then
            error(format("%s: bad entry %q (name=host:port expected)", where, item), 0)
        end
        t[name] = addr
    end
    return t
end

-- skynet's clustername file: a Lua chunk of `name = "host:port"` lines.
local function load_clustername(path)
    local t = {}
    local f, err = loadfile(path, "t", t)
    if not f then error(format("cluster file %s: %s", path, err), 0) end
    f()
    t.__nowaiting = nil -- skynet's: calls to a down node fail at once here anyway
    for name, addr in pairs(t) do
        if addr ~= false and (type(addr) ~= "string" or not addr:match(":%d+$")) then
            error(format("cluster file %s: node %s: bad address %s", path, name, tostring(addr)), 0)
        end
    end
    return t
end

local function link_config(address)
    return {
        address = address, epoch = conf.epoch, secret = conf.secret, heartbeat = conf.heartbeat,
        peer_timeout = conf.peer_timeout, max_message = conf.max_message,
        send_queue_kb = conf.send_queue_kb, part = conf.part,
    }
end

local function require_conf()
    if not conf.name then
        error("this node has no cluster name: set cluster_name or call cluster.open(name)", 0)
    end
end

local function get_link(name)
    local l = links[name]
    if l then return l end
    require_conf()
    local node = nodes[name]
    l = skynet.newservice("clusterlink", skynet.self(), conf.name, name)
    skynet.call(l, "lua", "CONFIG", link_config(node and node.address))
    skynet.call(l, "lua", "NAMES", names)
    links[name] = l
    return l
end

local function event(what, rec)
    event_seq = event_seq + 1
    events[#events + 1] = { seq = event_seq, what = what, node = rec }
    if #events > 256 then table.remove(events, 1) end
    local w = watchers
    watchers = {}
    for i = 1, #w do w[i](true, { events[#events] }) end
end

-- Replaces the node list; tells links of changed addresses or epochs, and watchers of joins and
-- leaves.
local function set_nodes(t)
    local old = nodes
    nodes = t
    for name, n in pairs(t) do
        local o = old[name]
        if not o then
            event("join", { name = name, address = n.address, epoch = n.epoch, since = n.since })
        end
        if links[name] and (not o or o.address ~= n.address or o.epoch ~= n.epoch) then
            skynet.send(links[name], "lua", "PEER", n.address, n.epoch)
        end
    end
    for name, o in pairs(old) do
        if not t[name] then
            event("leave", { name = name, address = o.address, epoch = o.epoch, since = o.since })
            if links[name] then skynet.send(links[name], "lua", "GONE") end
        end
    end
end

local function static_list(tbl)
    local t
    if tbl then
        t = parse_nodes(tbl, "cluster.reload")
    else
        t = {}
        local file = skynet.getenv "cluster"
        if file and file ~= "" then t = load_clustername(file) end
        local list = skynet.getenv "cluster_nodes"
        if list and list ~= "" then
            for k, v in pairs(parse_nodes(list, "config key cluster_nodes")) do t[k] = v end
        end
    end
    local r = {}
    -- false (skynet's "known, down"): the node is known and calls to it fail
    for name, addr in pairs(t) do r[name] = { address = addr or nil } end
    return r
end

-- The HELLO of an accepted connection names the peer; its link takes the connection over.
local function hello(id, addr)
    socket.start(id)
    local timer_done = false
    skynet.timeout((conf.peer_timeout + 9) // 10, function()
        if not timer_done then socket.shutdown(id) end
    end)
    local head = socket.read(id, 4)
    local body
    if head then
        local n = sunpack(">I4", head)
        if n > 0 and n <= 4096 then body = socket.read(id, n) end
    end
    timer_done = true
    local ok, version, name, epoch, nonce = false, nil, nil, nil, nil
    if body and body:byte(1) == frame.HELLO then
        version, name, epoch, nonce = frame.fields(frame.HELLO, body:sub(2), 4)
        ok = version ~= nil
    end
    if not ok then
        skynet.error(format("cluster: refused peer %s: no valid HELLO", addr))
        return socket.close(id)
    end
    if version ~= frame.VERSION then
        skynet.error(format("cluster: refused peer %s: protocol version %s", addr, version))
        socket.write(id, frame.control(frame.REFUSE, "protocol version " .. version .. " unknown"))
        return socket.close(id)
    end
    if name == conf.name then
        skynet.error(format("cluster: refused peer %s: it calls itself %s, this node's name", addr,
            name))
        socket.write(id, frame.control(frame.REFUSE, "node name " .. name .. " is this node's"))
        return socket.close(id)
    end
    local rest = socket.abandon(id)
    if rest and #rest > 0 then
        skynet.error(format("cluster: refused peer %s: bytes after HELLO", addr))
        return socket.close_fd(id)
    end
    skynet.call(get_link(name), "lua", "ACCEPT", id, addr, epoch, nonce)
end

local CMD = {}

-- Starts listening (once) and joins the membership. opts (tests, or cluster.open):
-- name, listen ("host:port"), and any cluster_* setting by its short name.
function CMD.OPEN(arg)
    if type(arg) == "table" then
        for k, v in pairs(arg) do conf[k] = v end
        if arg.nodes then set_nodes(static_list(arg.nodes)) end
    elseif math.tointeger(arg) then
        local host = (conf.listen or "127.0.0.1:0"):match("^(.*):%d+$") or "127.0.0.1"
        conf.listen = format("%s:%d", host, arg)
    elseif type(arg) == "string" then
        conf.name = arg
        if static and nodes[arg] then conf.listen = nodes[arg].address end
    end
    require_conf()
    if listener then return listen_address end
    local id, host, port = socket.listen(conf.listen or "127.0.0.1:0")
    listener = id
    listen_address = format("%s:%d", host, port)
    socket.start(id, function(newid, addr) hello(newid, addr) end)
    for name, l in pairs(links) do
        skynet.call(l, "lua", "CONFIG", link_config(nodes[name] and nodes[name].address))
    end
    skynet.error(format("cluster: node %s listening on %s (epoch %s)", conf.name, listen_address,
        conf.epoch))
    return listen_address
end

function CMD.LINK(name)
    if type(name) ~= "string" then error(format("bad node name %s", tostring(name)), 0) end
    if not nodes[name] then error(format("unknown node %s", name), 0) end
    return get_link(name)
end

function CMD.RELOAD(tbl)
    if not static then error("cluster.reload: this node's list comes from the membership", 0) end
    set_nodes(static_list(tbl))
    return true
end

function CMD.REGISTER(name, handle)
    if type(name) ~= "string" or name == "" then
        error(format("cluster.register: bad name %s", tostring(name)), 0)
    end
    names["@" .. name] = handle
    for _, l in pairs(links) do skynet.send(l, "lua", "NAMES", names) end
    return true
end

function CMD.UNREGISTER(name)
    names["@" .. name] = nil
    for _, l in pairs(links) do skynet.send(l, "lua", "NAMES", names) end
    return true
end

-- A peer's cluster.query: the handle registered under name here.
function CMD.QUERYNAME(name)
    local h = names["@" .. name]
    if not h then error(format("unknown name @%s on node %s", name, conf.name), 0) end
    return h
end

function CMD.PROXY(node, address)
    local key = node .. "\0" .. tostring(address)
    local p = proxies[key]
    if p then return p end
    CMD.LINK(node)
    p = skynet.newservice("clusterproxy", skynet.self(), node, address)
    proxies[key] = p
    return p
end

function CMD.NODES()
    local r = {}
    for name, n in pairs(nodes) do
        r[#r + 1] = { name = name, address = n.address, epoch = n.epoch, since = n.since }
    end
    table.sort(r, function(a, b) return a.name < b.name end)
    return r
end

-- Long poll of cluster.watch: the events after `seq` (waits for one when there is none).
function CMD.WATCH(seq)
    local out = {}
    for i = 1, #events do
        if events[i].seq > seq then out[#out + 1] = events[i] end
    end
    if #out > 0 then return out end
    watchers[#watchers + 1] = skynet.response()
    return nil, true
end

function CMD.SEQ()
    return event_seq
end

-- A link reports the epoch a peer has (static lists learn it here).
function CMD.LINK_UP(name, epoch, _)
    local n = nodes[name]
    if n and static then
        if n.epoch ~= epoch then
            n.epoch, n.since = epoch, math.floor(skynet.time() * 1000)
        end
    end
end

function CMD.SELF()
    return { name = conf.name, address = listen_address, epoch = conf.epoch }
end

local function init()
    local secret = skynet.getenv "cluster_secret"
    if secret == nil or secret == "" then secret = os.getenv "SKYHIVE_CLUSTER_SECRET" end
    if secret == "" then secret = nil end
    conf = {
        name = skynet.getenv "cluster_name",
        listen = skynet.getenv "cluster_listen",
        secret = secret,
        epoch = crypt.hexencode(crypt.randombytes(8)),
        heartbeat = env_number("cluster_heartbeat", 1000),
        peer_timeout = env_number("cluster_peer_timeout", 3000),
        max_message = env_number("cluster_max_message", 16 * 1024 * 1024),
        send_queue_kb = env_number("cluster_send_queue", 65536),
        ttl = env_number("cluster_ttl", 3000),
        part = 65536,
    }
    if conf.name == "" then conf.name = nil end
    set_nodes(static_list())
end

skynet.start(function()
    init()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error(format("clusterd: unknown command %s", tostring(cmd)), 0) end
        local r = table.pack(pcall(f, ...))
        if not r[1] then
            -- the caller gets the text (cluster.lua strips skynet.call's wrapper); no log line
            return skynet.response()(false, tostring(r[2]))
        end
        if cmd == "WATCH" and r[2] == nil and r[3] == true then return end -- answered later
        skynet.retpack(table.unpack(r, 2, r.n))
    end)
end)
