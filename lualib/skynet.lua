-- skynet: the API of a Lua service (see docs/lua-api.md).
--
-- The scheduler (sessions, the coroutine pool, fork and wakeup queues, the error protocol) is
-- C++ inside skynet.core; this file adds skynet's protocols and names. Functions that yield, and
-- so must run in a message coroutine (a handler, a fork, a timeout, the start function): call,
-- rawcall, calltimeout, sleep, yield, wait, newservice, uniqueservice, queryservice.

local c = require "skynet.core"

local type, tostring, error, assert = type, tostring, error, assert
local format = string.format
local c_send, c_call = c.send, c.call

local skynet = {
    PTYPE_TEXT = 0, PTYPE_RESPONSE = 1, PTYPE_MULTICAST = 2, PTYPE_CLIENT = 3, PTYPE_SYSTEM = 4,
    PTYPE_HARBOR = 5, PTYPE_SOCKET = 6, PTYPE_ERROR = 7, PTYPE_QUEUE = 8, PTYPE_DEBUG = 9,
    PTYPE_LUA = 10, PTYPE_SNAX = 11, PTYPE_TRACE = 12,
    -- straight from the core
    pack = c.pack, unpack = c.unpack, packstring = c.packstring, trash = c.trash,
    tostring = c.tostring, hpc = c.hpc, now = c.now, starttime = c.starttime,
    ret = c.ret, retpack = c.retpack, response = c.response, ignoreret = c.ignoreret,
    fork = c.fork, timeout = c.timeout, sleep = c.sleep, wait = c.wait, wakeup = c.wakeup,
    exit = c.exit, task = c.task, error = c.print, getenv = c.getenv, memlimit = c.memlimit,
    stat = c.stat, localname = c.query, kill = c.kill, yield = c.yield, time = c.time,
    self = c.self, address = c.address, newservice = c.newservice, register = c.register,
    name = c.register, abort = c.abort, setenv = c.setenv, context = c.context, genid = c.genid,
    killthread = c.killthread, dispatch_unknown_request = c.dispatch_unknown_request,
    dispatch_unknown_response = c.dispatch_unknown_response,
    -- skynet.pcall is plain pcall in skynet (its init-running form is deprecated there)
    pcall = pcall,
    -- skynet.call raises "call to <addr> failed: <the callee's error>" when the callee raised,
    -- refused, died, or exited before answering; calltimeout(ms, addr, proto, ...) also raises
    -- "call to <addr> timed out after <ms> ms" (the late answer is dropped).
    send = c.proto_send, call = c.proto_call, calltimeout = c.proto_calltimeout,
}

local proto = {}
c.protocols(proto)

local function unknown(typename)
    error(format("unknown protocol %s", tostring(typename)), 3)
end

-- class = { name = "lua", id = 10, pack = f, unpack = f, dispatch = f }
function skynet.register_protocol(class)
    local name, id = class.name, class.id
    assert(type(name) == "string" and type(id) == "number", "register_protocol needs a name and an id")
    assert(proto[name] == nil, "protocol " .. name .. " registered twice")
    -- The libraries take ids of their own (cluster 13, lockgrant 14, lockjoin 15): say which.
    if proto[id] then
        error(string.format("protocol %s: id %d registered twice (taken by %s)", name, id,
            proto[id].name), 2)
    end
    c.protocol(id, class.dispatch, class.unpack)  -- checks id is in 0..255
    proto[name], proto[id] = class, class
end

function skynet.dispatch(typename, func)
    local p = proto[typename]
    if func == nil then return p and p.dispatch end  -- a query: nil for an unknown protocol
    if not p then unknown(typename) end
    local old = p.dispatch
    p.dispatch = func
    c.protocol(p.id, func, p.unpack)
    return old
end

skynet.register_protocol { name = "lua", id = skynet.PTYPE_LUA, pack = c.pack, unpack = c.unpack }
skynet.register_protocol { name = "response", id = skynet.PTYPE_RESPONSE }
skynet.register_protocol { name = "error", id = skynet.PTYPE_ERROR, unpack = c.tostring }

local info_func
-- f(...) answers the debug protocol's INFO request (the debug console's `info`).
function skynet.info_func(f)
    info_func = f
end

-- Every service answers the debug protocol (the console's mem, gc, stat, task, info, ping); the
-- code behind it loads on the first debug request.
skynet.register_protocol {
    name = "debug", id = skynet.PTYPE_DEBUG, pack = c.pack, unpack = c.unpack,
    dispatch = function(_, _, cmd, ...)
        return require("skynet.debug").dispatch(skynet, info_func, cmd, ...)
    end,
}

-- The number of messages waiting in this service's queue.
function skynet.mqlen()
    return c.stat "mqlen"
end

-- True once the monitor has caught this service in an endless loop.
function skynet.endless()
    return c.stat "endless"
end

function skynet.rawsend(addr, typename, msg, sz)
    local p = proto[typename] or unknown(typename)
    return c_send(addr, p.id, 0, msg, sz) ~= false
end

function skynet.redirect(addr, source, typename, session, msg, sz)
    local id = type(typename) == "number" and typename or (proto[typename] or unknown(typename)).id
    return c.redirect(addr, source, id, session, msg, sz)
end

-- Returns the raw answer (msg, size), valid until the coroutine next yields.
function skynet.rawcall(addr, typename, msg, sz)
    local p = proto[typename] or unknown(typename)
    return c_call(addr, p.id, msg, sz)
end

-- skynet asserts the handle: a service that exits in its start function has none.
local function unique_handle(what, name, handle)
    if handle == nil then
        error(format("%s %s: the service exited in its start function", what, tostring(name)), 3)
    end
    return handle
end

function skynet.uniqueservice(global, ...)
    if global == true then
        return unique_handle("uniqueservice", ..., skynet.call(".service", "lua", "LAUNCH", ...))
    end
    return unique_handle("uniqueservice", global,
        skynet.call(".service", "lua", "LAUNCH", global, ...))
end

function skynet.queryservice(global, ...)
    if global == true then
        return unique_handle("queryservice", ..., skynet.call(".service", "lua", "QUERY", ...))
    end
    return unique_handle("queryservice", global,
        skynet.call(".service", "lua", "QUERY", global, ...))
end

local init_funcs = {}

-- Functions run before the start function (or at once, after it began).
function skynet.init(f)
    if init_funcs then
        init_funcs[#init_funcs + 1] = f
    else
        f()
    end
end

-- Installs the dispatcher; start() runs in the service's first message, after the main chunk. If
-- it raises, the service logs the error, answers its newservice with it, and exits.
function skynet.start(start)
    c.start(function()
        local funcs = init_funcs
        init_funcs = nil
        for i = 1, #funcs do funcs[i]() end
        start()
    end)
end

return skynet
