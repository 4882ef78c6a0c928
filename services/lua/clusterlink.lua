-- clusterlink: the link of this node to one peer node (started by clusterd, one per peer).
--
-- Callers reach it with the "cluster" protocol (skynet.call(link, "cluster", address, ...), what
-- skynet.cluster does): the request goes out as frames (skynet.cluster.core) and the caller's
-- session waits in the connection's router (core.router, shared with the socket thread): the
-- connection's framer hands an answer that arrives in one frame straight to the caller as its
-- response, without a message to this service; an error answer, or one split in parts, comes
-- here (whole) and is redirected to the caller. No coroutine waits per outgoing call. Requests from the peer go to local services with
-- skynet.redirect (a call with a fresh session of this service, a push with session 0); the
-- service's answer (or error) comes back as a response nobody waits for
-- (skynet.dispatch_unknown_response) and goes out as a RESPONSE frame: no coroutine per request
-- either. While the connection is up and nothing else is queued here, a caller's request, a
-- local service's answer and a batch of the peer's plain requests skip this Lua altogether: the
-- outgoing codec's direct path (out:direct, lualib/native/cluster_direct.h) handles them in C++
-- and shares the link sessions and the served requests with the code below.
--
-- Calls and pushes whose arguments hold a long string come through this link's clusterbulk
-- instead (it frames them, so that framing never holds the small calls here): it tells this
-- service of each call it wrote (BULK_SENT), and this service tells it the socket (STATE).
--
-- One connection at a time, in framed mode (the "cluster" framer cuts frames on the socket
-- thread and assembles split messages there): dialed here when a call needs it, or accepted by
-- clusterd and handed over after the peer's HELLO. The handshake (HELLO, CHALLENGE, PROOF, WELCOME; with a secret, HMAC-SHA256 both
-- ways) names both ends and their epochs. When the connection drops, sends a bad frame, the
-- peer's epoch changes or the peer stays silent for peer_timeout ms, every call waiting on the
-- peer fails at once with "node X: connection lost: may or may not have executed".
-- Thread: this service only (everything arrives as messages).
local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.cluster.core"
local frame = require "skynet.cluster.frame"

local clusterd, myname, peername = ...
clusterd = math.tointeger(tonumber(clusterd))
local cm = require("skynet.cluster.metrics").link(myname, peername)

local format, select, pcall = string.format, select, pcall
local trash, redirect, now, genid = skynet.trash, skynet.redirect, skynet.now, skynet.genid
local socket_write, socket_lwrite = socket.write, socket.lwrite
local PTYPE_CLUSTER = 13
local REQUEST, RESPONSE = 16, 17

local conf = {}        -- from clusterd: address, epoch, secret, heartbeat, peer_timeout (ms),
                       -- max_message, send_queue_kb, part (bytes), max_serving
local serving_full = nil -- the error a call of the peer gets past conf.max_serving (CONFIG)
local out = nil        -- core.link that builds the frames this side sends; its direct path
                       -- (out:direct) also holds the link sessions and the requests of the
                       -- peer that local services are answering (out:serve)
local names = {}       -- "@name" -> handle, pushed by clusterd (cluster.register)
local self_handle = skynet.self()

-- A connection: {id, addr, codec (core.link: its partial incoming messages), router (core.router:
-- the calls sent on it that wait for an answer: link session -> caller's source and session), epoch, state
-- ("handshake", "up", "closed"), inbox (control frames during the handshake), early (calls and
-- answers that came before this side saw the handshake end), co (the coroutine waiting for a
-- control frame), why (the reason it closed)}.
local link = nil       -- the connection that is up, or nil (its router: the calls waiting)
local queue = {}       -- calls waiting for a connection: {source, session, ls, frames}
local queued = 0       -- bytes in `queue`
local dialing = false  -- the dial in progress: {c = its connection once opened}; each dial
                       -- checks that it is still this one after every yield
local full = false     -- link's write queue is past its mark
local last_recv, last_send = 0, 0
local backoff, retry_at = 0, 0
local last_error = nil -- why the last dial failed (for calls made during the backoff)
local gone = false     -- the peer left the node list: calls fail with "unknown node X"
local crossings = 0    -- times both ends dialed at once (for STAT)
local bulk = nil       -- this link's clusterbulk (large messages)

local function lost_text()
    return format("node %s: connection lost: may or may not have executed", peername)
end

local function queue_full_text()
    return format("node %s: send queue full (%d KB)", peername, conf.send_queue_kb)
end

-- Tells the direct path (out:direct) the connection that is up and whether calls may take it:
-- a caller's call that needs nothing of this service's Lua then goes out without it, and so does
-- a local service's answer to the peer.
local function sync_direct()
    if not out then return end
    if link then
        out:direct(link.id, link.router, not full and not gone)
    else
        out:direct(false)
    end
end

-- Frames of small messages are gathered in `out` (core.link's gather) and written together:
-- at the end of the message that gathered them when nothing else waits in this service's
-- mailbox and no other call waits for an answer, else once behind what waits now (a
-- skynet.yield), or at once past FLUSH_BYTES. (Answers reach their callers without passing
-- through here, so an empty mailbox no longer means a burst is over: other calls in flight mean
-- more requests are coming as their answers arrive.) So a
-- burst of calls or answers costs one socket write instead of one each. The gathered frames
-- belong to `link` (they are dropped with it).
local FLUSH_BYTES = 64 * 1024
local KERNEL_BUFFER = 256 * 1024 -- SO_SNDBUF and SO_RCVBUF of the connection (see up)
local flush_forked = false
local mqlen, yield = skynet.mqlen, skynet.yield

local function flush()
    local buf, size = out:take()
    if not buf then return end
    if link then
        socket_write(link.id, buf, size)
        last_send = now()
    else
        trash(buf, size)
    end
end

local function flush_later()
    yield()
    flush_forked = false
    flush()
end

-- After gathering `bytes` (the total so far): writes now, or arranges the write.
local function gathered(bytes)
    if bytes >= FLUSH_BYTES or (mqlen() == 0 and not (link and link.router:waiting() > 1)) then
        return flush()
    end
    if not flush_forked then
        flush_forked = true
        skynet.fork(flush_later)
    end
end

-- Tells clusterbulk the socket it may write on (false while no connection is up) and whether
-- the send queue is past its mark.
-- Adds the bytes of the answers c's framer routed to the link's metrics (every heartbeat tick
-- and when c drops).
-- Also takes the time of the direct path's last write.
local function sync_stats(c)
    local bytes = c.router:stats()
    if bytes > 0 then cm.received_bytes:inc(bytes) end
    local sent_at, read_at = out:last_send(), out:last_recv()
    if sent_at > last_send then last_send = sent_at end
    if read_at > last_recv then last_recv = read_at end
end

local function tell_bulk()
    if bulk then skynet.send(bulk, "lua", "STATE", link and link.id or false, full) end
end

local function fail(source, session, text)
    cm.errors:inc()
    if session > 0 then
        redirect(source, self_handle, "error", session, text)
    else
        skynet.error(format("cluster: send to node %s dropped: %s", peername, text))
    end
end

local function fail_queue(text)
    local q = queue
    queue, queued = {}, 0
    for i = 1, #q do
        local c = q[i]
        local f = c.frames
        for j = 2, f.n, 2 do trash(f[j], f[j + 1]) end
        fail(c.source, c.session, text)
    end
end

-- The frames and buffers this service holds in Lua (the calls queued for a connection, the
-- early calls and answers of open connections) are light userdata: nothing frees them when the
-- service's Lua state closes (node shutdown while a dial is in progress), so this does.
local open = {}  -- connection -> true, from connection() until drop()
setmetatable(open, { __gc = function()
    for i = 1, #queue do
        local f = queue[i].frames
        for j = 2, f.n, 2 do trash(f[j], f[j + 1]) end
    end
    queue, queued = {}, 0
    for c in pairs(open) do
        for _, e in ipairs(c.early) do trash(e[5], e[6]) end
        c.early = {}
    end
end })

-- Writes frames (n, buf1, sz1, ...; ownership moves): one frame at normal priority, the parts
-- of a large message at low priority, so that small messages overtake it.
local function write_frames(id, n, b1, s1, ...)
    cm.sent_bytes:inc(s1)
    if n == 1 then
        socket_write(id, b1, s1)
    else
        socket_lwrite(id, b1, s1)
        for i = 1, 2 * (n - 1), 2 do
            local b, s = select(i, ...)
            cm.sent_bytes:inc(s)
            socket_lwrite(id, b, s)
        end
    end
    last_send = now()
end

-- The largest message this side sends: its own cluster_max_message, or the linked peer's when
-- smaller, so that a message the peer would refuse on arrival (which closes the link) fails at
-- its caller instead.
local function send_limit()
    local m = conf.max_message
    if link and link.peer_max and link.peer_max < m then m = link.peer_max end
    return m
end

-- Gives the framing codecs (this service's `out`, clusterbulk's) the current limits.
local function apply_limits()
    out:limits { max_message = send_limit(), part = conf.part }
    skynet.send(bulk, "lua", "CONF", send_limit(), conf.part)
end

-- Closes connection c (its socket too) and, when it was the link, fails every call waiting on
-- it. May yield (socket.close).
local function drop(c, why)
    if c.state == "closed" then return end
    local was_up = c.state == "up"
    c.state, c.why = "closed", why
    open[c] = nil
    c.codec:reset()
    for _, e in ipairs(c.early) do trash(e[5], e[6]) end
    c.early = {}
    if c.co then skynet.wakeup(c.co) end
    -- Every call still waiting fails now, and the framer routes nothing more (an answer it
    -- still reads comes here, finds the connection closed, and is dropped).
    local failed = c.router:close(lost_text())
    if failed > 0 then cm.errors:inc(failed) end
    if link == c then
        local buf, size = out:take()
        if buf then trash(buf, size) end
        link, full = nil, false
        if c.peer_max then apply_limits() end
        sync_direct()
        sync_stats(c)
        tell_bulk()
    end
    if was_up then
        cm.link(false)
        skynet.send(clusterd, "lua", "LINK_DOWN", peername, why)
        skynet.error(format("cluster: link to node %s (%s) closed: %s", peername, c.addr, why))
    end
    socket.shutdown(c.id)
    socket.close(c.id)
end

local dial -- forward

-- After the codec built a request: send it, queue it for the connection, or fail the caller.
local function sent(source, session, ls, ok, n, ...)
    if not ok then
        local text = tostring(n)
        if text:find("larger than cluster_max_message", 1, true) then
            text = format("node %s: %s", peername, text)
        end
        return fail(source, session, text)
    end
    if link then
        -- (before the write: the answer may reach the socket thread at once)
        if session > 0 then link.router:add(ls, source, session) end
        if n == 0 then return gathered(...) end
        return write_frames(link.id, n, ...)
    end
    local frames = table.pack(n, ...)
    local size = 0
    for j = 3, frames.n, 2 do size = size + frames[j] end
    if queued + size > conf.send_queue_kb * 1024 and #queue > 0 then
        for j = 2, frames.n, 2 do trash(frames[j], frames[j + 1]) end
        return fail(source, session, queue_full_text())
    end
    queue[#queue + 1] = { source = source, session = session, ls = ls, frames = frames }
    queued = queued + size
    if not dialing then skynet.fork(dial) end
end

-- A request of a local caller (session 0: a push of cluster.send). msg belongs to the message
-- being dispatched: the codec borrows it (copies it into the frames, frees nothing).
local function outgoing(session, source, msg, sz)
    cm.sent:inc()
    if gone then return fail(source, session, format("unknown node %s", peername)) end
    if link then
        if full then return fail(source, session, queue_full_text()) end
    elseif not dialing and now() < retry_at then
        return fail(source, session, last_error)
    end
    local ls = out:session()
    return sent(source, session, ls,
        pcall(out.request, out, ls, session == 0, msg, sz, true, link ~= nil))
end

skynet.register_protocol {
    name = "cluster", id = PTYPE_CLUSTER,
    dispatch = function(session, source, msg, sz)
        if session > 0 then skynet.ignoreret() end
        outgoing(session, source, msg, sz)
    end,
}

local function resolve(address)
    if math.type(address) == "integer" then return address end
    if address == ".clusterd" then return clusterd end
    local first = address:sub(1, 1)
    if first == "@" then return names[address] end
    if first == "." then return skynet.localname(address) end
    return nil
end

local function answered(c, ls, ok, n, ...)
    if ok then
        if n == 0 then return gathered(...) end
        return write_frames(c.id, n, ...)
    end
    local text = tostring(n)
    if text:find("larger than cluster_max_message", 1, true) then
        text = format("node %s: answer %s", myname, (text:gsub("^message ", "")))
    end
    answered(c, ls, true, out:response(ls, false, text, nil, false, true))
end

-- Answers request ls of connection c, if c is still the link (else its caller already failed).
-- data (msg, sz) is borrowed, or an error text.
local function respond(c, ls, ok, data, size)
    if link ~= c then return end
    return answered(c, ls, pcall(out.response, out, ls, ok, data, size, true, true))
end

-- A local service answered request s (ok false: an error answer, msg its text; empty when the
-- service died before answering), and the direct path left it here (an error, an answer in
-- parts, or one behind others). msg belongs to the message being dispatched.
local function served(s, source, msg, size, ok)
    local ls, id = out:served(s)
    if ls == nil then
        return skynet.error(format("clusterlink: %s for unknown session %d from %s dropped",
            ok and "response" or "error", s, skynet.address(source)))
    end
    -- id 0: the answer is dropped; another connection's: its caller already failed
    if not link or link.id ~= id then return end
    if ok then return respond(link, ls, true, msg, size) end
    respond(link, ls, false, size > 0 and skynet.tostring(msg, size)
        or format("service %s exited before answering", skynet.address(source)))
end

-- Request ls of the peer on connection c goes to local service target (the peer's `address`) as
-- a call of this service. (The direct path, cluster_direct.cpp, words the dead-target error and
-- the dropped-push log line the same way: change them together.) The peer's error for a dead
-- target names it: a bare "service is dead" is what a caller's own skynet.call raises when its
-- link is gone (cluster.lua tells them apart).
local function serve(c, ls, address, target, data, size)
    local s = genid()
    out:serve(s, ls, c.id)
    if not redirect(target, self_handle, "lua", s, data, size) then
        out:serve(s, ls, 0) -- the node's error answer for the dead target is dropped
        respond(c, ls, false, format("service %s is dead", math.type(address) == "integer"
            and skynet.address(address) or tostring(address)))
    end
end

local function incoming_request(c, ls, push, address, data, size)
    cm.served:inc()
    local target = resolve(address)
    if target == nil then
        trash(data, size)
        local text = tostring(address):sub(1, 1) == "@" and format("unknown name %s", address)
            or format("service %s is dead", tostring(address))
        if push then
            skynet.error(format("cluster: push from node %s dropped: %s", peername, text))
        else
            respond(c, ls, false, text)
        end
    elseif push then
        if not redirect(target, self_handle, "lua", 0, data, size) then
            skynet.error(format("cluster: push from node %s to %s dropped: service is dead",
                peername, tostring(address)))
        end
    elseif not out:admit() then
        trash(data, size)
        respond(c, ls, false, serving_full)
    else
        serve(c, ls, address, target, data, size)
    end
end

-- An answer the framer did not route (an error, split in parts, or it came before the call was
-- added).
local function incoming_response(c, ls, ok, data, size)
    local source, session = c.router:take(ls)
    if not source then return trash(data, size) end
    if not ok then cm.errors:inc() end
    redirect(source, self_handle, ok and "response" or "error", session, data, size)
end

local function incoming_control(c, kind, body)
    if c.state == "handshake" then
        -- The handshake reads one frame at a time and needs two at most.
        if #c.inbox >= 4 then error("too many control frames during the handshake", 0) end
        if kind == frame.WELCOME then c.welcomed = true end
        c.inbox[#c.inbox + 1] = { kind, body }
        if c.co then skynet.wakeup(c.co) end
    elseif kind == frame.PING then
        socket_write(c.id, frame.control(frame.PONG))
        last_send = now()
    elseif kind == frame.REFUSE then
        error(format("refused by the peer: %s", tostring((frame.fields(kind, body, 1)))), 0)
    elseif kind ~= frame.PONG then
        error(format("unexpected control frame %d", kind), 0)
    end
end

-- A call or answer of item i of t (a frames batch) that came before connection c is up. The
-- peer is up as soon as it sent (or got) WELCOME and may send calls in the same batch: they
-- wait in c.early until this side has seen the WELCOME too, up to send_queue_kb. Before the
-- WELCOME (an unproven peer) they are a protocol error. -> true | false, why (the data freed)
local function hold_early(c, kind, t, i)
    local data, size = t[i + 4], t[i + 5]
    if not c.welcomed then
        trash(data, size)
        return false, "a call or answer before the handshake ended"
    end
    c.early_bytes = (c.early_bytes or 0) + size
    if c.early_bytes > conf.send_queue_kb * 1024 then
        trash(data, size)
        return false, format("more than send_queue_kb (%d KB) of calls before the handshake ended",
            conf.send_queue_kb)
    end
    local e = c.early
    e[#e + 1] = { kind, t[i + 1], t[i + 2], t[i + 3], data, size }
    return true
end

-- The frames event of connection c: items in wire order (docs/lua-api.md, skynet.cluster.core).
local function on_frames(c, ptr, size)
    if c.state == "closed" then return c.codec:discard(ptr, size) end
    last_recv = now()
    cm.received_bytes:inc(size)
    local ok, n, t = pcall(c.codec.feed, c.codec, ptr, size)
    if ok then
        for i = 1, 6 * n, 6 do
            local kind = t[i]
            if kind == REQUEST or kind == RESPONSE then
                if not ok then
                    trash(t[i + 4], t[i + 5]) -- the connection is closing for an earlier item
                elseif c.state ~= "up" then
                    ok, n = hold_early(c, kind, t, i)
                elseif kind == REQUEST then
                    incoming_request(c, t[i + 1], t[i + 2] == 1, t[i + 3], t[i + 4], t[i + 5])
                else
                    incoming_response(c, t[i + 1], t[i + 2] == 1, t[i + 4], t[i + 5])
                end
            elseif ok then
                ok, n = pcall(incoming_control, c, kind, t[i + 4])
            end
        end
    end
    if not ok then
        skynet.error(format("cluster: node %s (%s): bad frame: %s", peername, c.addr, n))
        skynet.fork(drop, c, "bad frame: " .. tostring(n))
    end
end

-- The "cluster" framer's options: split messages are assembled on the socket thread, so the
-- link gets each one whole, and a small frame never waits in this service's mailbox behind the
-- parts of a large one (the codec takes them with `assembled`).
-- With router (the connection's core.router) the framer also hands the answers that arrive in
-- one frame straight to their callers.
local function framer_options(router)
    return { assemble = conf.max_message, router = router:id() }
end

-- A connection object for socket id, reading in framed mode from now on.
local function connection(id, addr, router)
    local framed = router ~= nil
    local c = { id = id, addr = addr, state = "handshake", inbox = {}, early = {},
        router = router or core.router(),
        codec = core.link { max_message = conf.max_message, part = conf.part, assembled = true } }
    open[c] = true
    socket.onclose(id, function(_, err)
        skynet.fork(drop, c, err or "closed by the peer")
    end)
    if not framed then
        socket.set_framer(id, "cluster", function(ptr, size) on_frames(c, ptr, size) end,
            framer_options(c.router))
    end
    return c
end

-- Waits for the next control frame of connection c during the handshake.
-- -> its fields (n of them) | nil, why
local function fields(c, want, n)
    while #c.inbox == 0 and c.state == "handshake" do
        c.co = coroutine.running()
        skynet.wait(c.co)
        c.co = nil
    end
    local f = table.remove(c.inbox, 1)
    if not f then return nil, c.why or "closed" end
    local kind, body = f[1], f[2]
    if kind == frame.REFUSE then
        return nil, "refused by the peer: " .. tostring((frame.fields(kind, body, 1)))
    end
    if kind ~= want then return nil, format("handshake frame %d where %d was expected", kind, want) end
    c.extra = frame.extra(body, n)
    return frame.fields(kind, body, n)
end

-- The largest message the peer accepts, from the field its HELLO or CHALLENGE may carry (nil:
-- an older peer, or nonsense).
local function peer_limit(field)
    local n = math.tointeger(tonumber(field))
    if n and n >= 1024 then return n end
    return nil
end


-- The connection c passed the handshake: it becomes the link; queued calls go out. Unless c
-- closed meanwhile (its handshake frames were read before it closed; or while the old link
-- closed, which yields): then the calls still queued dial again.
local function up(c, epoch)
    if c.state == "handshake" and link then drop(link, "replaced by a new connection") end
    if c.state ~= "handshake" then
        if not link and not dialing and #queue > 0 then skynet.fork(dial) end
        return
    end
    c.state, c.epoch = "up", epoch
    link, full = c, false
    if c.peer_max then apply_limits() end
    backoff, retry_at, last_error = 0, 0, nil
    last_recv, last_send = now(), now()
    socket.warning_mark(c.id, conf.send_queue_kb)
    socket.warning(c.id, function(_, kb)
        if link == c and full ~= (kb > 0) then
            full = kb > 0
            sync_direct()
            tell_bulk()
        end
    end)
    tell_bulk()
    socket.nodelay(c.id)
    -- Bounded kernel buffers: a small frame written after a large message's parts waits behind
    -- at most this much of them in each kernel (with Linux's tuned defaults, up to 4 MB sent and
    -- 6 MB received on loopback: tens of ms for the peer's socket thread to read through).
    socket.buffers(c.id, KERNEL_BUFFER)
    local q = queue
    queue, queued = {}, 0
    for i = 1, #q do
        local w = q[i]
        if w.session > 0 then c.router:add(w.ls, w.source, w.session) end
        write_frames(c.id, table.unpack(w.frames, 1, w.frames.n))
    end
    local early = c.early
    c.early = {}
    for _, e in ipairs(early) do
        if e[1] == REQUEST then
            incoming_request(c, e[2], e[3] == 1, e[4], e[5], e[6])
        else
            incoming_response(c, e[2], e[3] == 1, e[5], e[6])
        end
    end
    sync_direct()
    cm.link(true)
    skynet.send(clusterd, "lua", "LINK_UP", peername, epoch, c.addr)
end

local function mac(role, nonce_d, nonce_a, dialer, acceptor, epoch_d, epoch_a)
    return core.hmac_sha256(conf.secret, table.concat({ role, nonce_d, nonce_a, dialer, acceptor,
        epoch_d, epoch_a }, "|"))
end

local function refuse(c, text)
    socket_write(c.id, frame.control(frame.REFUSE, text))
    drop(c, text)
end

-- Ends connection c's handshake with "handshake timed out" unless done within peer_timeout.
local function handshake_deadline(c)
    skynet.timeout((conf.peer_timeout + 9) // 10, function()
        if c.state == "handshake" then drop(c, "handshake timed out") end
    end)
end

-- Dials the peer and runs the dialer's side of the handshake; on failure fails the queued calls
-- and backs off (100 ms, doubling to 5 s).
local function try_dial()
    if dialing or link then return end
    local attempt = {}
    dialing = attempt
    local addr = conf.address
    local function failed(text)
        -- A dial that another took over (an accepted connection, a later dial) leaves the calls
        -- queued to that one.
        if dialing ~= attempt then return end
        dialing = false
        last_error = format("node %s: cannot connect to %s: %s", peername, tostring(addr), text)
        skynet.error("cluster: " .. last_error)
        backoff = math.min(backoff == 0 and 10 or backoff * 2, 500)
        retry_at = now() + backoff
        fail_queue(last_error)
    end
    if not addr then return failed("the node has no address (down)") end
    local host, port = addr:match("^%[?([^%]]-)%]?:(%d+)$")
    if not host then return failed("bad address") end
    local c
    local router = core.router()
    local id, err = socket.open_framed(host, tonumber(port), "cluster", function(ptr, size)
        on_frames(c, ptr, size)
    end, framer_options(router), conf.peer_timeout)
    if not id then return failed(err) end
    c = connection(id, addr, router)
    if link or dialing ~= attempt then -- an accepted connection won meanwhile
        if dialing == attempt then dialing = false end
        return drop(c, "not needed")
    end
    attempt.c = c
    handshake_deadline(c)
    local nonce_d = core.random(16)
    socket_write(id, frame.control(frame.HELLO, frame.VERSION, myname, conf.epoch, nonce_d,
        tostring(conf.max_message)))
    local name, epoch_a, nonce_a, mac_a = fields(c, frame.CHALLENGE, 4)
    c.peer_max = peer_limit(c.extra)
    if not name then
        drop(c, epoch_a)
        if dialing ~= attempt then return end
        if epoch_a:find("crossing links", 1, true) then
            -- The peer keeps the connection it dialed: it reaches us through clusterd shortly.
            -- Should it not (its dial failed), the calls queued here dial again.
            dialing = false
            skynet.timeout((conf.peer_timeout + 9) // 10, function()
                if not link and not dialing and #queue > 0 then skynet.fork(dial) end
            end)
            return
        end
        return failed(epoch_a)
    end
    if name ~= peername then
        refuse(c, "wrong node")
        return failed(format("the node there is %s", name))
    end
    if conf.secret then
        local want = mac("accept", nonce_d, nonce_a, myname, peername, conf.epoch, epoch_a)
        if not core.equal(want, mac_a) then
            skynet.error(format("cluster: refused peer %s (node %s): bad secret", addr, peername))
            refuse(c, "bad secret")
            return failed("bad secret")
        end
        socket_write(id, frame.control(frame.PROOF,
            mac("dial", nonce_d, nonce_a, myname, peername, conf.epoch, epoch_a)))
    else
        socket_write(id, frame.control(frame.PROOF, ""))
    end
    local ok, why = fields(c, frame.WELCOME, 0)
    if ok == nil then
        drop(c, why)
        return failed(why)
    end
    if dialing ~= attempt then return drop(c, "not needed") end
    dialing = false
    up(c, epoch_a)
end

function dial()
    local ok, err = pcall(try_dial)
    if not ok then
        -- a bug, not a network failure: the queued calls must not wait for ever
        skynet.error(format("cluster: dialing node %s failed: %s", peername, tostring(err)))
        if dialing and dialing.c then skynet.fork(drop, dialing.c, "dial failed") end
        dialing = false
        fail_queue(format("node %s: cannot connect: %s", peername, tostring(err)))
    end
end

local function loopback(addr)
    local host = addr:match("^%[?([^%]]-)%]?:%d+$") or addr
    return host:match("^127%.") ~= nil or host == "::1" or host:match("^::ffff:127%.") ~= nil
end

-- The acceptor's side, after clusterd read the HELLO: id is not started here yet.
local function accepted(id, addr, epoch_d, nonce_d, max_d)
    socket.start(id)
    local c = connection(id, addr)
    c.peer_max = peer_limit(max_d)
    handshake_deadline(c)
    if not conf.secret and not loopback(addr) then
        skynet.error(format("cluster: refused peer %s: not loopback and no cluster_secret", addr))
        return refuse(c, "no cluster_secret: only loopback peers are accepted")
    end
    if dialing and myname < peername then
        -- Both ends dialed: the connection dialed by the node whose name sorts first stays.
        crossings = crossings + 1
        return refuse(c, "crossing links: the one dialed by " .. myname .. " stays")
    end
    local nonce_a = core.random(16)
    local mac_a = conf.secret and mac("accept", nonce_d, nonce_a, peername, myname, epoch_d,
        conf.epoch) or ""
    socket_write(id, frame.control(frame.CHALLENGE, myname, conf.epoch, nonce_a, mac_a,
        tostring(conf.max_message)))
    local proof, why = fields(c, frame.PROOF, 1)
    if proof == nil then
        skynet.error(format("cluster: refused peer %s (node %s): %s", addr, peername, why))
        return drop(c, why)
    end
    if conf.secret then
        local want = mac("dial", nonce_d, nonce_a, peername, myname, epoch_d, conf.epoch)
        if not core.equal(want, proof) then
            skynet.error(format("cluster: refused peer %s (node %s): bad secret", addr, peername))
            return refuse(c, "bad secret")
        end
    end
    c.welcomed = true
    socket_write(id, frame.control(frame.WELCOME))
    -- Our own dial loses: its calls go out on this connection. It is closed once this one is the
    -- link, since the close yields and a call arriving meanwhile would find neither.
    local d = dialing
    if d then
        dialing = false
        crossings = crossings + 1
    end
    up(c, epoch_d)
    if d and d.c then drop(d.c, "crossing links") end
end

-- Heartbeat: a PING when nothing was sent for `heartbeat` ms; nothing received for
-- peer_timeout ms closes the link (the peer is stopped or hung).
local function heartbeat()
    local c = link
    if c then
        sync_stats(c)
        local t = now()
        local silent = (t - last_recv) * 10 >= conf.peer_timeout
        if silent then
            -- The framer assembles a large message without a frames event until its last part:
            -- bytes read on the socket are signs of life too (netstat waits for the socket
            -- thread, only here).
            local info = socket.netstat(c.id)
            local rtime = info and info.rtime
            if rtime and rtime < conf.peer_timeout then
                last_recv = t - rtime // 10
                silent = false
            end
        end
        if silent then
            drop(c, format("nothing received for %d ms", (t - last_recv) * 10))
        elseif (t - last_send) * 10 >= conf.heartbeat then
            socket_write(c.id, frame.control(frame.PING))
            last_send = t
        end
    end
    skynet.timeout(math.max(1, conf.heartbeat // 40), heartbeat)
end

local CMD = {}

function CMD.CONFIG(c)
    local first = conf.heartbeat == nil
    conf = c
    local limits = { max_message = send_limit(), part = conf.part }
    if out then
        out:limits(limits)
    else
        out = core.link(limits)
        out:count(cm.sent, cm.sent_bytes, cm.served, cm.received_bytes)
        out:peer(peername)
    end
    serving_full = format(
        "node %s: %d calls of node %s already wait for an answer (cluster_max_serving)",
        myname, conf.max_serving, peername)
    out:serving_limit(conf.max_serving, serving_full)
    skynet.send(bulk, "lua", "CONF", send_limit(), conf.part)
    -- The heartbeat runs from the first configuration on (it reads conf's periods).
    if first then skynet.timeout(10, heartbeat) end
    return true
end

-- The peer's address or epoch changed (membership, reload). A new epoch ends the link up.
function CMD.PEER(address, epoch)
    local moved = conf.address and address and address ~= conf.address
    conf.address, gone = address, false
    sync_direct()
    if link and epoch and link.epoch ~= epoch then
        drop(link, format("node %s has a new epoch %s", peername, epoch))
    elseif link and moved then
        -- A static list reloaded with another address for the node (no epoch tells a new
        -- process): the next call dials it there, as skynet's cluster.reload does.
        drop(link, format("node %s moved to %s", peername, address))
    end
    backoff, retry_at = 0, 0
    return true
end

-- The peer left the node list: calls fail with "unknown node" from now on (clusterd).
-- (The queue is failed before drop, which yields: calls that arrive meanwhile, after a PEER
-- that brought the node back, must not be failed with it.)
function CMD.GONE()
    gone = true
    sync_direct()
    fail_queue(format("unknown node %s", peername))
    if link then drop(link, "the node left the node list") end
    return true
end

function CMD.NAMES(t)
    names = t
    return true
end

function CMD.ACCEPT(id, addr, epoch_d, nonce_d, max_d)
    skynet.fork(accepted, id, addr, epoch_d, nonce_d, max_d)
    return true
end

-- The service that sends this link's large messages (skynet.cluster asks once per node).
function CMD.BULK()
    return bulk
end

function CMD.STAT()
    local direct_requests, direct_answers, direct_served = 0, 0, 0
    if out then direct_requests, direct_answers, direct_served = out:taken() end
    return { up = link ~= nil, epoch = link and link.epoch, address = conf.address,
        pending = link and link.router:waiting() or 0, queued = #queue, full = full,
        crossings = crossings, direct_requests = direct_requests, direct_answers = direct_answers,
        direct_served = direct_served, send_limit = send_limit() }
end

function CMD.CLOSE()
    fail_queue(format("node %s: link closed", peername))
    if link then drop(link, "closed by this node") end
    return true
end

-- clusterbulk wrote the request of a caller's call (session ls of its range) on connection id:
-- it is pending from now on, or fails at once when that connection is no longer the link.
local function bulk_sent(ls, source, session, id)
    if link and link.id == id then
        link.router:add(ls, source, session)
    else
        fail(source, session, lost_text())
    end
end

skynet.start(function()
    -- Its handlers are short (frame, redirect, write): frames and the answers of local services
    -- are handled on the socket thread while it is idle, without a worker's wake-up per call.
    socket.inline(true)
    bulk = skynet.newservice("clusterbulk", self_handle, peername)
    skynet.dispatch_unknown_response(served)
    skynet.dispatch("lua", function(_, _, cmd, ...)
        if cmd == "BULK_SENT" then return bulk_sent(...) end
        local f = CMD[cmd]
        if not f then error(format("clusterlink: unknown command %s", tostring(cmd))) end
        skynet.retpack(f(...))
    end)
end)
