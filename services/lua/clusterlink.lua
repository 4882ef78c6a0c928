-- clusterlink: the link of this node to one peer node (started by clusterd, one per peer).
--
-- Callers reach it with the "cluster" protocol (skynet.call(link, "cluster", address, ...), what
-- skynet.cluster does): the request goes out as frames and the caller's session waits in
-- `pending`; the answer frame is redirected to the caller as its response (or error). No
-- coroutine waits per outgoing call. Requests from the peer are delivered to local services (a
-- push with skynet.rawsend, a call in a coroutine of its own) and answered with a RESPONSE frame.
--
-- One TCP connection at a time: dialed here when a call needs it, or accepted by clusterd and
-- handed over after the peer's HELLO. The handshake (HELLO, CHALLENGE, PROOF, WELCOME; with a
-- secret, HMAC-SHA256 both ways) names both ends and their epochs. When the connection drops,
-- the peer's epoch changes or the peer stays silent for peer_timeout ms, every call waiting on
-- the peer fails at once with "node X: connection lost: may or may not have executed".
-- Thread: this service only (it is a service: everything arrives as messages).
local skynet = require "skynet"
local socket = require "skynet.socket"
local crypt = require "skynet.crypt"
local frame = require "skynet.cluster.frame"

local clusterd, myname, peername = ...
clusterd = math.tointeger(tonumber(clusterd))

local format, spack, sunpack = string.format, string.pack, string.unpack
local PROTOCOL_VERSION = "1"
local PTYPE_CLUSTER = 13

local conf = {}        -- from clusterd: address, epoch, secret, heartbeat, peer_timeout (ms),
                       -- max_message, send_queue_kb, part (bytes)
local names = {}       -- "@name" -> handle, pushed by clusterd (cluster.register)

local link = nil       -- the connection that is up: {id, epoch, reader, addr} or nil
local pending = {}     -- link session -> {source, session} of calls sent on `link`
local npending = 0
local queue = {}       -- calls waiting for a connection: {source, session, frames, size}
local queued = 0       -- bytes in `queue`
local dialing = false  -- a dial in progress (its socket id once opened)
local full = false     -- link's write queue is past its mark
local next_ls = 0
local last_recv, last_send = 0, 0
local backoff, retry_at = 0, 0
local last_error = nil -- why the last dial failed (for calls made during the backoff)

local function lost_text()
    return format("node %s: connection lost: may or may not have executed", peername)
end

local function new_session()
    next_ls = next_ls % 0x7fffffff + 1
    while pending[next_ls] do next_ls = next_ls % 0x7fffffff + 1 end
    return next_ls
end

local function fail(source, session, text)
    if session and session > 0 then
        skynet.redirect(source, skynet.self(), "error", session, text)
    else
        skynet.error(format("cluster: send to node %s dropped: %s", peername, text))
    end
end

local function fail_queue(text)
    local q = queue
    queue, queued = {}, 0
    for i = 1, #q do fail(q[i].source, q[i].session, text) end
end

-- Closes the link that is up (if it is still `l`) and fails the calls waiting on it.
local function drop(l, why)
    if link ~= l or l == nil then return end
    link, full = nil, false
    skynet.error(format("cluster: link to node %s (%s) closed: %s", peername, l.addr, why))
    local p = pending
    pending, npending = {}, 0
    local text = lost_text()
    for _, c in pairs(p) do fail(c.source, c.session, text) end
    socket.shutdown(l.id)
    socket.close(l.id)
end

local function write_frames(id, frames)
    if #frames == 1 then
        socket.write(id, frames[1])
    else
        for i = 1, #frames do socket.lwrite(id, frames[i]) end
    end
    last_send = skynet.now()
end

local dial -- forward

-- A request from a local caller (session 0: a push from cluster.send).
local function outgoing(session, source, msg, sz)
    local ok, frames = pcall(function()
        local values = table.pack(skynet.unpack(msg, sz))
        local data = skynet.packstring(table.unpack(values, 2, values.n))
        if #data > conf.max_message then
            error(format("node %s: message of %d bytes is larger than cluster_max_message (%d)",
                peername, #data, conf.max_message), 0)
        end
        return frame.request(new_session(), session == 0, values[1], data, conf.part)
    end)
    if not ok then return fail(source, session, frames) end
    local ls = sunpack(">I4", frames[1], 6)
    if link then
        if full then
            return fail(source, session,
                format("node %s: send queue full (%d KB)", peername, conf.send_queue_kb))
        end
        if session > 0 then
            pending[ls] = { source = source, session = session }
            npending = npending + 1
        end
        write_frames(link.id, frames)
        return
    end
    local size = 0
    for i = 1, #frames do size = size + #frames[i] end
    if queued + size > conf.send_queue_kb * 1024 and #queue > 0 then
        return fail(source, session,
            format("node %s: send queue full (%d KB)", peername, conf.send_queue_kb))
    end
    if not dialing and skynet.now() < retry_at then
        return fail(source, session, last_error)
    end
    queue[#queue + 1] = { source = source, session = session, frames = frames, ls = ls }
    queued = queued + size
    if not dialing then skynet.fork(dial) end
end

skynet.register_protocol {
    name = "cluster", id = PTYPE_CLUSTER,
    dispatch = function(session, source, msg, sz)
        if session > 0 then skynet.ignoreret() end
        outgoing(session, source, msg, sz)
    end,
}

-- The text of an error a local rawcall raised, without the "call to :x failed: " wrapper.
local function callee_error(err)
    local text = tostring(err)
    local rest = text:match("call to %S+ failed: (.*)$")
    return rest or text
end

local function resolve(address)
    if math.type(address) == "integer" then return address end
    if address == ".clusterd" then return clusterd end
    local first = address:sub(1, 1)
    if first == "@" then return names[address] end
    if first == "." then return skynet.localname(address) end
    return nil
end

local function respond(l, ls, ok, data)
    if link ~= l then return end -- the link closed meanwhile: the caller already failed
    local okf, frames = pcall(frame.response, ls, ok, data, conf.part)
    if not okf then frames = frame.response(ls, false, tostring(frames), conf.part) end
    if #data > conf.max_message then
        frames = frame.response(ls, false,
            format("node %s: answer of %d bytes is larger than cluster_max_message (%d)", myname,
                #data, conf.max_message), conf.part)
    end
    write_frames(l.id, frames)
end

local function serve(l, ls, target, data)
    local ok, msg, sz = pcall(skynet.rawcall, target, "lua", data)
    if ok then
        respond(l, ls, true, skynet.tostring(msg, sz))
    else
        respond(l, ls, false, callee_error(msg))
    end
end

local function incoming_request(l, ls, push, address, data)
    local target = resolve(address)
    if target == nil then
        local text = address:sub(1, 1) == "@" and format("unknown name %s", address)
            or format("service %s is dead", address)
        if push then
            skynet.error(format("cluster: push from node %s dropped: %s", peername, text))
        else
            respond(l, ls, false, text)
        end
        return
    end
    if push then
        if not skynet.rawsend(target, "lua", data) then
            skynet.error(format("cluster: push from node %s to %s dropped: service is dead",
                peername, tostring(address)))
        end
    else
        skynet.fork(serve, l, ls, target, data)
    end
end

local function incoming(l, body)
    local kind, ls, flag, address, data = l.reader:body(body)
    if kind == nil then return end
    if kind == frame.REQUEST then
        incoming_request(l, ls, flag, address, data)
    elseif kind == frame.RESPONSE then
        local c = pending[ls]
        if not c then return end -- its caller gave up (calltimeout) or it was a push
        pending[ls] = nil
        npending = npending - 1
        skynet.redirect(c.source, skynet.self(), flag and "response" or "error", c.session, data)
    elseif kind == frame.PING then
        socket.write(l.id, frame.control(frame.PONG))
        last_send = skynet.now()
    elseif kind == frame.PONG then
        return
    elseif kind == frame.REFUSE then
        local text = frame.control_fields(ls, 1)
        error(format("refused by the peer: %s", tostring(text)), 0)
    else
        error(format("unexpected control frame %d", kind), 0)
    end
end

-- Reads one frame body. -> body | nil, why
local function read_frame(id)
    local head = socket.read(id, 4)
    if not head then return nil, "closed by the peer" end
    local n = sunpack(">I4", head)
    if n == 0 then return nil, "empty cluster frame" end
    if n > frame.MAX_FRAME then
        return nil, format("cluster frame of %d bytes: more than the maximum %d", n, frame.MAX_FRAME)
    end
    local body = socket.read(id, n)
    if not body then return nil, "closed by the peer" end
    last_recv = skynet.now()
    return body
end

local function reader_loop(l)
    while link == l do
        local body, why = read_frame(l.id)
        if not body then return drop(l, why) end
        local ok, err = pcall(incoming, l, body)
        if not ok then
            skynet.error(format("cluster: node %s (%s): bad frame: %s", peername, l.addr, err))
            return drop(l, "bad frame: " .. tostring(err))
        end
    end
end

-- The connection `id` passed the handshake: it becomes the link; queued calls go out.
local function up(id, epoch, addr)
    local old = link
    if old then drop(old, "replaced by a new connection") end
    local l = { id = id, epoch = epoch, addr = addr, reader = frame.reader(conf.max_message) }
    link, full = l, false
    backoff, retry_at, last_error = 0, 0, nil
    last_recv, last_send = skynet.now(), skynet.now()
    socket.warning_mark(id, conf.send_queue_kb)
    socket.warning(id, function(_, kb)
        if link == l then full = kb > 0 end
    end)
    socket.onclose(id, function() skynet.fork(drop, l, "closed") end)
    socket.nodelay(id)
    local q = queue
    queue, queued = {}, 0
    for i = 1, #q do
        local c = q[i]
        if c.session > 0 then
            pending[c.ls] = { source = c.source, session = c.session }
            npending = npending + 1
        end
        write_frames(id, c.frames)
    end
    skynet.send(clusterd, "lua", "LINK_UP", peername, epoch, addr)
    skynet.fork(reader_loop, l)
end

local function mac(role, nonce_d, nonce_a, dialer, acceptor, epoch_d, epoch_a)
    return crypt.hmac_sha256(conf.secret, table.concat({ role, nonce_d, nonce_a, dialer, acceptor,
        epoch_d, epoch_a }, "|"))
end

local function refuse(id, text)
    socket.write(id, frame.control(frame.REFUSE, text))
    socket.close(id)
end

-- Closes `id` if the handshake has not finished within peer_timeout.
local function handshake_deadline(id, state)
    skynet.timeout((conf.peer_timeout + 9) // 10, function()
        if not state.done then
            state.done = "timeout"
            socket.shutdown(id)
        end
    end)
end

local function fields(id, want, n)
    local body, why = read_frame(id)
    if not body then return nil, why end
    local kind = body:byte(1)
    if kind == frame.REFUSE then
        return nil, "refused by the peer: " .. tostring((frame.control_fields(body, 1)))
    end
    if kind ~= want then return nil, format("handshake frame %d where %d was expected", kind, want) end
    local a, b, c, d = frame.control_fields(body, n)
    if a == nil then return nil, b end
    return a, b, c, d
end

-- Dials the peer, runs the dialer's side of the handshake; on failure fails the queued calls
-- and backs off (100 ms, doubling to 5 s).
function dial()
    if dialing or link then return end
    dialing = true
    local addr = conf.address
    local function failed(text)
        dialing = false
        last_error = format("node %s: cannot connect to %s: %s", peername, tostring(addr), text)
        skynet.error("cluster: " .. last_error)
        backoff = math.min(backoff == 0 and 10 or backoff * 2, 500)
        retry_at = skynet.now() + backoff
        fail_queue(last_error)
    end
    if not addr then return failed("no address known") end
    local id, err = socket.open(addr)
    if not id then return failed(err) end
    if link then -- an accepted connection won meanwhile
        dialing = false
        socket.close(id)
        return
    end
    dialing = id
    local state = {}
    handshake_deadline(id, state)
    local nonce_d = crypt.randombytes(16)
    socket.write(id, frame.control(frame.HELLO, PROTOCOL_VERSION, myname, conf.epoch, nonce_d))
    local name, epoch_a, nonce_a, mac_a = fields(id, frame.CHALLENGE, 4)
    if not name then
        local timed_out = state.done == "timeout"
        state.done = true
        socket.close(id)
        if dialing ~= id then return end
        if tostring(epoch_a):find("crossing links", 1, true) then
            -- the peer keeps the link it dialed: it reaches us through clusterd shortly
            dialing = false
            return
        end
        return failed(timed_out and "handshake timed out" or epoch_a)
    end
    if name ~= peername then
        state.done = true
        refuse(id, "wrong node")
        return failed(format("the peer there is node %s", name))
    end
    if conf.secret then
        local want = mac("accept", nonce_d, nonce_a, myname, peername, conf.epoch, epoch_a)
        if not crypt.equals(want, mac_a) then
            state.done = true
            skynet.error(format("cluster: refused peer %s: bad secret", addr))
            refuse(id, "bad secret")
            return failed("bad secret")
        end
        socket.write(id, frame.control(frame.PROOF,
            mac("dial", nonce_d, nonce_a, myname, peername, conf.epoch, epoch_a)))
    else
        socket.write(id, frame.control(frame.PROOF, ""))
    end
    local ok, why = fields(id, frame.WELCOME, 0)
    state.done = true
    if ok == nil then
        socket.close(id)
        if dialing ~= id then return end
        return failed(why)
    end
    if dialing ~= id then
        socket.close(id)
        return
    end
    dialing = false
    up(id, epoch_a, addr)
end

local function loopback(addr)
    local host = addr:match("^%[?([^%]]-)%]?:%d+$") or addr
    return host:match("^127%.") ~= nil or host == "::1" or host:match("^::ffff:127%.") ~= nil
end

-- The acceptor's side, after clusterd read the HELLO: id is not started yet.
local function accepted(id, addr, epoch_d, nonce_d)
    socket.start(id)
    local state = {}
    handshake_deadline(id, state)
    if not conf.secret and not loopback(addr) then
        state.done = true
        skynet.error(format("cluster: refused peer %s: not loopback and no cluster_secret", addr))
        return refuse(id, "no cluster_secret: only loopback peers are accepted")
    end
    if dialing and myname < peername then
        -- Both ends dialed: the link dialed by the node whose name sorts first stays.
        state.done = true
        return refuse(id, "crossing links: the link dialed by " .. myname .. " stays")
    end
    local nonce_a = crypt.randombytes(16)
    local mac_a = conf.secret and mac("accept", nonce_d, nonce_a, peername, myname, epoch_d,
        conf.epoch) or ""
    socket.write(id, frame.control(frame.CHALLENGE, myname, conf.epoch, nonce_a, mac_a))
    local proof, why = fields(id, frame.PROOF, 1)
    if proof == nil then
        local timed_out = state.done == "timeout"
        state.done = true
        socket.close(id)
        skynet.error(format("cluster: refused peer %s (node %s): %s", addr, peername,
            timed_out and "handshake timed out" or why))
        return
    end
    if conf.secret then
        local want = mac("dial", nonce_d, nonce_a, peername, myname, epoch_d, conf.epoch)
        if not crypt.equals(want, proof) then
            state.done = true
            skynet.error(format("cluster: refused peer %s (node %s): bad secret", addr, peername))
            return refuse(id, "bad secret")
        end
    end
    state.done = true
    socket.write(id, frame.control(frame.WELCOME))
    if dialing then dialing = false end -- our own dial loses; its queued calls go out here
    up(id, epoch_d, addr)
end

-- Heartbeat: a PING when nothing was sent for `heartbeat` ms; nothing received for
-- peer_timeout ms closes the link (the peer is stopped or hung).
local function heartbeat()
    local l = link
    if l then
        local now = skynet.now()
        if (now - last_recv) * 10 >= conf.peer_timeout then
            drop(l, format("nothing received for %d ms", (now - last_recv) * 10))
        elseif (now - last_send) * 10 >= conf.heartbeat then
            socket.write(l.id, frame.control(frame.PING))
            last_send = now
        end
    end
    skynet.timeout(math.max(1, conf.heartbeat // 40), heartbeat)
end

local CMD = {}

function CMD.CONFIG(c)
    conf = c
    return true
end

-- The peer's address or epoch changed (membership, reload). A new epoch ends the link up.
function CMD.PEER(address, epoch)
    conf.address = address
    if link and epoch and link.epoch ~= epoch then
        drop(link, format("node %s has a new epoch %s", peername, epoch))
    end
    backoff, retry_at = 0, 0
    return true
end

-- The peer left the membership: calls fail with "unknown node" from now on (clusterd).
function CMD.GONE()
    if link then drop(link, "the node left the membership") end
    fail_queue(format("unknown node %s", peername))
    return true
end

function CMD.NAMES(t)
    names = t
    return true
end

function CMD.ACCEPT(id, addr, epoch_d, nonce_d)
    skynet.fork(accepted, id, addr, epoch_d, nonce_d)
    return true
end

function CMD.STAT()
    return { up = link ~= nil, epoch = link and link.epoch, address = conf.address,
        pending = npending, queued = #queue, full = full }
end

function CMD.CLOSE()
    if link then drop(link, "closed by this node") end
    fail_queue(format("node %s: link closed", peername))
    return true
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error(format("clusterlink: unknown command %s", tostring(cmd))) end
        skynet.retpack(f(...))
    end)
    skynet.timeout(10, heartbeat)
end)
