-- clusterd: the cluster service of a node (unique, ".clusterd"; skynet.cluster starts it).
--
-- Owns: the config (cluster_* keys, or the table given to OPEN), the listener and the first
-- handshake frame of every accepted connection, the node list (a static list: cluster_nodes or
-- skynet's `cluster` file, reloadable; or the membership in Redis), the names registered with
-- cluster.register, the proxies, and one clusterlink service per peer node, which it creates on
-- first use and hands accepted connections to once their HELLO names the peer. Once open it is
-- also ".clusterd", which the runtime tells "stop" (text) at every clean stop of the node: it
-- leaves the membership, closes its links and exits.
-- Thread: this service only.
local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.cluster.core"
local frame = require "skynet.cluster.frame"
local cconfig = require "skynet.cluster.config"
local metrics = require "skynet.metrics"

local format, sunpack = string.format, string.unpack

local conf = nil        -- name, listen, epoch, secret, heartbeat, peer_timeout, max_message,
                        -- send_queue_kb, part, max_serving
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
local unlisted = 0      -- links made for peers that were not in the node list when they dialed
local MAX_UNLISTED = 64
local link_up = {}      -- name -> ms (wall clock) since its link is up; absent while down

-- The status board topic "cluster" (docs/operations.md): one entry per other node of the list,
-- {address, epoch, up_since (ms, while the link is up), link = "up" | "down"}. (This node is
-- not listed: the key is a node name, and a test process may run several nodes.)
local function show(name)
    local n = nodes[name]
    if name == conf.name then return end
    if not n then
        metrics.publish("cluster", name, nil)
    else
        metrics.publish("cluster", name, { address = n.address, epoch = n.epoch,
            up_since = link_up[name], link = link_up[name] and "up" or "down" })
    end
end

local function link_config(address)
    return {
        address = address, epoch = conf.epoch, secret = conf.secret, heartbeat = conf.heartbeat,
        peer_timeout = conf.peer_timeout, max_message = conf.max_message,
        send_queue_kb = conf.send_queue_kb, part = conf.part, max_serving = conf.max_serving,
    }
end

local function require_conf()
    if not conf.name then
        error("this node has no cluster name: set cluster_name or call cluster.open(name)", 0)
    end
end

-- name -> coroutines waiting while another one makes that node's link (making it yields: two
-- callers at once must not make two links to one node).
local making = {}

local function get_link(name)
    local l = links[name]
    if l then return l end
    require_conf()
    local waiting = making[name]
    if waiting then
        local co = coroutine.running()
        waiting[#waiting + 1] = co
        skynet.wait(co)
        l = links[name]
        if not l then error(format("node %s: its link could not be made", name), 0) end
        return l
    end
    waiting = {}
    making[name] = waiting
    local ok, made = pcall(function()
        local node = nodes[name]
        local h = skynet.newservice("clusterlink", skynet.self(), conf.name, name)
        skynet.call(h, "lua", "CONFIG", link_config(node and node.address))
        skynet.call(h, "lua", "NAMES", names)
        return h
    end)
    making[name] = nil
    if ok then links[name] = made end
    for i = 1, #waiting do skynet.wakeup(waiting[i]) end
    if not ok then error(made, 0) end
    return made
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
        if not o or o.address ~= n.address or o.epoch ~= n.epoch then show(name) end
    end
    for name, o in pairs(old) do
        if not t[name] then
            event("leave", { name = name, address = o.address, epoch = o.epoch, since = o.since })
            if links[name] then skynet.send(links[name], "lua", "GONE") end
            show(name)
        end
    end
end

-- The static node list: tbl (cluster.reload's table), or the config's cluster_nodes and
-- cluster file read again. -> name -> {address} (no address: known, down)
local function static_list(tbl)
    local t
    if tbl then
        if type(tbl) ~= "table" then error("cluster.reload: a table name -> \"host:port\" expected", 0) end
        t = cconfig.check_nodes(tbl, function() return "cluster.reload: " end)
    else
        t = cconfig.static_nodes()
    end
    local r = {}
    for name, addr in pairs(t) do r[name] = { address = addr or nil } end
    return r
end

local function node_of(rec)
    return { address = rec.address, epoch = tostring(rec.epoch), since = rec.since }
end

-- The membership in Redis (when the node list is not static): the watch keeps `nodes` live.
local function start_membership()
    local rconfig = require "skynet.db.redis.config"
    local mship = require "skynet.cluster.membership"
    local opts = rconfig.options()
    local client = rconfig.connect(opts)
    local m = mship.new { client = client, name = conf.name or "_", address = "-:0",
        ttl = conf.ttl }
    local ok, watcher = pcall(rconfig.watch, opts)
    if not ok then
        skynet.error("cluster: membership events unavailable, polling only: " .. tostring(watcher))
        watcher = nil
    end
    m:watch(function(kind, rec)
        local t = {}
        for k, v in pairs(nodes) do t[k] = v end
        if kind == "join" then
            t[rec.name] = node_of(rec)
        elseif t[rec.name] and t[rec.name].epoch == tostring(rec.epoch) then
            t[rec.name] = nil
        end
        set_nodes(t)
    end, watcher)
    membership = { client = client, opts = opts }
end

-- Joins the membership once the node listens: a name held by another live node is refused (after
-- waiting up to a TTL for a record left by a node killed just before).
local function join_membership()
    local mship = require "skynet.cluster.membership"
    local m = mship.new { client = membership.client, name = conf.name,
        address = listen_address, ttl = conf.ttl }
    local epoch = m:join(conf.ttl + conf.ttl // 2)
    conf.epoch = tostring(epoch)
    m:keepalive(function(text)
        skynet.error("cluster: this node lost its membership: " .. tostring(text))
    end)
    membership.self = m
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
    local ok, version, name, epoch, nonce, max_d = false, nil, nil, nil, nil, nil
    if body and body:byte(1) == frame.HELLO then
        version, name, epoch, nonce = frame.fields(frame.HELLO, body:sub(2), 4)
        max_d = frame.extra(body:sub(2), 4)
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
    if not cconfig.is_name(name) then
        skynet.error(format("cluster: refused peer %s: bad node name %q", addr, name))
        socket.write(id, frame.control(frame.REFUSE, "bad node name"))
        return socket.close(id)
    end
    if not nodes[name] and not links[name] then
        -- Not listed (yet: a node that just joined the membership may dial before this node's
        -- watch has seen it). A link is made for it, but not for ever more such names.
        unlisted = unlisted + 1
        if unlisted > MAX_UNLISTED then
            skynet.error(format("cluster: refused peer %s: node %s is not listed (and %d unlisted "
                .. "nodes were linked already)", addr, name, MAX_UNLISTED))
            socket.write(id, frame.control(frame.REFUSE, "node " .. name .. " is not listed here"))
            return socket.close(id)
        end
    end
    local rest = socket.abandon(id)
    if rest and #rest > 0 then
        skynet.error(format("cluster: refused peer %s: bytes after HELLO", addr))
        return socket.close_fd(id)
    end
    skynet.call(get_link(name), "lua", "ACCEPT", id, addr, epoch, nonce, max_d)
end

local CMD = {}

-- Starts listening (once) and joins the membership. opts (tests, or cluster.open):
-- name, listen ("host:port"), and any cluster_* setting by its short name.
function CMD.OPEN(arg)
    if type(arg) == "table" then
        local known = { name = "string", listen = "string", nodes = "table", secret = "string",
            heartbeat = "number", peer_timeout = "number", max_message = "number",
            send_queue_kb = "number", ttl = "number", max_serving = "number" }
        for k, v in pairs(arg) do
            if not known[k] then error(format("cluster.open: unknown option %s", tostring(k)), 0) end
            if type(v) ~= known[k] then
                error(format("cluster.open: option %s: a %s expected, got %s", k, known[k],
                    tostring(v)), 0)
            end
            if k == "max_serving" and not (math.tointeger(v) and v >= 1) then
                error(format("cluster.open: option max_serving: a positive integer expected, got %s",
                    tostring(v)), 0)
            end
        end
        for k, v in pairs(arg) do
            if k ~= "nodes" then conf[k] = v end
        end
        if arg.nodes then
            static = true
            set_nodes(static_list(arg.nodes))
        end
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
    if membership then
        local ok, err = pcall(join_membership)
        if not ok then
            socket.close(id)
            listener = nil
            error(err, 0)
        end
    end
    socket.start(id, function(newid, addr) hello(newid, addr) end)
    -- The node's clean stop tells ".clusterd" to leave (services/runtime.cpp). Only an open
    -- cluster service has anything to leave; of several in one process (tests), the first.
    if not skynet.localname ".clusterd" then skynet.register ".clusterd" end
    for name, l in pairs(links) do
        skynet.call(l, "lua", "CONFIG", link_config(nodes[name] and nodes[name].address))
    end
    skynet.error(format("cluster: node %s listening on %s (epoch %s)", conf.name, listen_address,
        conf.epoch))
    return listen_address
end

-- The link to node `name`; 0 for this node itself (skynet.cluster then calls locally).
function CMD.LINK(name)
    if type(name) ~= "string" then error(format("bad node name %s", tostring(name)), 0) end
    if name == conf.name then return 0 end
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
    if node == conf.name then
        -- this node: the service itself is the proxy
        local h = math.tointeger(address) or (tostring(address):sub(1, 1) == "@"
            and names[address]) or skynet.localname(address)
        if not h then error(format("cluster.proxy: no service %s on this node", address), 0) end
        return h
    end
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
    link_up[name] = math.floor(skynet.time() * 1000)
    show(name)
end

-- A link that was up went down (its calls failed).
function CMD.LINK_DOWN(name, _)
    link_up[name] = nil
    show(name)
end

-- A clean stop: removes this node's membership record at once (peers see it leave now, not
-- after the TTL) and closes the links. The node serves no peer afterwards.
-- Once: later calls return at once.
local left = false
function CMD.LEAVE()
    if left then return true end
    left = true
    if listener then
        socket.close(listener)
        listener = nil
    end
    for name in pairs(nodes) do
        if name ~= conf.name then metrics.publish("cluster", name, nil) end
    end
    if membership and membership.self then
        local m = membership.self
        membership.self = nil
        local ok, err = pcall(m.leave, m)
        if not ok then skynet.error("cluster: leaving the membership: " .. tostring(err)) end
    end
    for _, l in pairs(links) do pcall(skynet.call, l, "lua", "CLOSE") end
    return true
end

-- How long the node's stop waits for LEAVE (Redis may be down): under the runtime's own bound
-- (services/runtime.cpp, kClusterLeaveWait).
local STOP_WAIT = 1000 -- ms

-- The node is stopping cleanly (services/runtime.cpp sends the text "stop" whatever asked for
-- the stop): leave (bounded by STOP_WAIT), then exit, which tells the runtime it may go on.
local function stop()
    local co = coroutine.running()
    local waiting = true
    local function done()
        if waiting then
            waiting = false
            skynet.wakeup(co)
        end
    end
    skynet.fork(function()
        CMD.LEAVE()
        done()
    end)
    skynet.timeout(STOP_WAIT // 10, function()
        if waiting then
            skynet.error(string.format("cluster: leaving took more than %d ms: stopping anyway",
                STOP_WAIT))
        end
        done()
    end)
    skynet.wait(co)
    -- cluster.watch loops end here instead of failing on this service's exit
    local w = watchers
    watchers = {}
    for i = 1, #w do w[i](true, "stopped") end
    skynet.exit()
end

function CMD.SELF()
    return { name = conf.name, address = listen_address, epoch = conf.epoch }
end

local function init()
    local set = cconfig.settings()
    conf = {
        name = set.name, listen = set.listen, secret = set.secret, ttl = set.ttl,
        heartbeat = set.heartbeat, peer_timeout = set.peer_timeout,
        max_message = set.max_message, send_queue_kb = set.send_queue_kb,
        max_serving = set.max_serving,
        -- a static list's epoch: random (the membership gives growing ones at join)
        epoch = (core.random(8):gsub(".", function(c) return format("%02x", c:byte()) end)),
        part = 65536,
    }
    local listed = skynet.getenv "cluster_nodes" or skynet.getenv "cluster"
    static = listed ~= nil
    if static then
        set_nodes(static_list())
        return
    end
    local ok, err = pcall(start_membership)
    if not ok then
        -- no Redis configured: a static list that cluster.reload fills
        static = true
        if not tostring(err):find("no Redis configured", 1, true) then error(err, 0) end
    end
end

skynet.start(function()
    init()
    local stopping = false
    skynet.register_protocol {
        name = "text",
        id = skynet.PTYPE_TEXT,
        unpack = skynet.tostring,
        dispatch = function(_, _, msg)
            if msg == "stop" and not stopping then
                stopping = true
                stop()
            end
        end,
    }
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
