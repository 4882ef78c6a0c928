-- skynet: the API of a Lua service (see docs/lua-api.md).
--
-- Every message runs in a coroutine taken from a pool. A coroutine that waits (call, sleep, wait,
-- newservice) yields "SUSPEND" after recording the session it waits for; the dispatcher resumes it
-- when that session's response or error arrives. Coroutines made by fork run after the current
-- message, in the order they were forked; coroutines woken by wakeup run as soon as the running
-- coroutine suspends.
--
-- Functions that may yield (must run inside a message coroutine): call, rawcall, calltimeout,
-- sleep, yield, wait, newservice, uniqueservice, queryservice, exit.

local c = require "skynet.core"

local type, select, tostring, error, pairs, next, assert = type, select, tostring, error, pairs, next, assert
local format, tpack, tunpack = string.format, table.pack, table.unpack
local coroutine_create = coroutine.create
local coroutine_resume = coroutine.resume
local coroutine_yield = coroutine.yield
local coroutine_close = coroutine.close
local coroutine_isyieldable = coroutine.isyieldable
local traceback = debug.traceback
local c_send, c_genid, c_timeout, c_tostring, c_error = c.send, c.genid, c.timeout, c.tostring, c.error
local c_pack = c.pack

local PTYPE_RESPONSE, PTYPE_ERROR = 1, 7

local skynet = {
    PTYPE_TEXT = 0, PTYPE_RESPONSE = 1, PTYPE_MULTICAST = 2, PTYPE_CLIENT = 3, PTYPE_SYSTEM = 4,
    PTYPE_HARBOR = 5, PTYPE_SOCKET = 6, PTYPE_ERROR = 7, PTYPE_QUEUE = 8, PTYPE_DEBUG = 9,
    PTYPE_LUA = 10, PTYPE_SNAX = 11, PTYPE_TRACE = 12,
    pack = c.pack, unpack = c.unpack, packstring = c.packstring, trash = c.trash,
    tostring = c.tostring, hpc = c.hpc, now = c.now, starttime = c.starttime,
}

local proto = {}
local session_id_coroutine = {}      -- session -> coroutine waiting for its response, or "BREAK"
local session_coroutine_id = {}      -- coroutine -> session of the request it handles (0: a send)
local session_coroutine_address = {} -- coroutine -> source of that request
local timeout_funcs = {}             -- timer session -> function to run (skynet.timeout)
local call_timers = {}               -- timer session -> call session (calltimeout)
local dropped = {}                   -- session whose late response or error is dropped silently
local unresponse = {}                -- response closure -> source, until it is used
local unresponse_session = {}        -- response closure -> session
local sleep_session = {}             -- token -> session of a sleep or wait
local wakeup_queue, wakeup_head, wakeup_tail = {}, 1, 0
local fork_queue, fork_funcs, fork_head, fork_tail = {}, {}, 1, 0
local coroutine_pool, pool_size = {}, 0
local POOL_MAX = 256
local running_thread     -- the message coroutine being run (not a skynet.coroutine inside it)
local exiting            -- "exit" once skynet.exit was called
local start_pending      -- true between skynet.start and the end of its start function
local self_handle
local TIMEOUT = {}       -- resume value of a call that timed out

local function address(addr)
    if type(addr) == "number" then return format(":%08x", addr) end
    return tostring(addr)
end
skynet.address = address

function skynet.self()
    if not self_handle then self_handle = c.self() end
    return self_handle
end

----------------------------------------------------------------------------------------------
-- Coroutines

-- Body of every pooled coroutine: resumed with (f, ...), runs f(...), then yields "EXIT" and
-- takes its next job from the value of that yield (a tail call, so the stack stays flat).
local function co_loop(f, ...)
    f(...)
    return co_loop(coroutine_yield "EXIT")
end

-- The pool is a stack; slots above pool_size may hold stale entries (overwritten on push), which
-- saves a table write per message.
local function co_get()
    local co = coroutine_pool[pool_size]
    if co then
        pool_size = pool_size - 1
        return co
    end
    return coroutine_create(co_loop)
end

local dispatch_wakeup

-- A coroutine raised: answer the request it was handling with the error text, log the
-- traceback, and drop the coroutine.
local function coroutine_failed(co, err)
    local text = type(err) == "string" and err or tostring(err)
    local session = session_coroutine_id[co]
    if session then
        local addr = session_coroutine_address[co]
        session_coroutine_id[co] = nil
        session_coroutine_address[co] = nil
        if session ~= 0 then c_send(addr, PTYPE_ERROR, session, text) end
    end
    c_error(traceback(co, text), "error")
    coroutine_close(co)
end

-- The handler returned without answering its request: the caller would wait forever.
local function unanswered(co, session)
    local addr = session_coroutine_address[co]
    session_coroutine_address[co] = nil
    local text = format("service %s returned from a request of %s without answering it",
        address(skynet.self()), address(addr))
    c_error(text, "warn")
    c_send(addr, PTYPE_ERROR, session, text)
end

-- Handles what a coroutine gave back from resume: its error, its end, or its suspension; then
-- runs the coroutines woken meanwhile.
local function suspend(co, ok, command)
    running_thread = nil
    if not ok then
        coroutine_failed(co, command)
    elseif command == "EXIT" then
        local session = session_coroutine_id[co]
        if session then
            session_coroutine_id[co] = nil
            if session ~= 0 then unanswered(co, session) end
        end
        if pool_size < POOL_MAX then
            pool_size = pool_size + 1
            coroutine_pool[pool_size] = co
        end
    elseif command == "QUIT" then
        return  -- the service is exiting; release answers what the coroutine was handling
    elseif command == "USER" then
        coroutine_failed(co, "skynet.coroutine.yield called outside skynet.coroutine.resume")
    elseif command ~= "SUSPEND" then
        coroutine_failed(co, "unknown yield command: " .. tostring(command))
    end
    if wakeup_head <= wakeup_tail then return dispatch_wakeup() end
end

function dispatch_wakeup()
    while wakeup_head <= wakeup_tail do
        local token = wakeup_queue[wakeup_head]
        wakeup_queue[wakeup_head] = nil
        wakeup_head = wakeup_head + 1
        local session = sleep_session[token]
        if session then
            local co = session_id_coroutine[session]
            if type(co) == "thread" then
                session_id_coroutine[session] = "BREAK"  -- its timer, if any, is dropped
                running_thread = co
                return suspend(co, coroutine_resume(co, "BREAK"))
            end
        end
    end
    wakeup_head, wakeup_tail = 1, 0
end

-- The coroutine waits for session; returns what the dispatcher resumes it with:
-- (true, msg, size) for a response, (false, text) for an error, "BREAK" from wakeup.
local function yield_session(session)
    session_id_coroutine[session] = running_thread
    return coroutine_yield "SUSPEND"
end

----------------------------------------------------------------------------------------------
-- Dispatch

-- Responses and errors that do not wake a waiting call: timers, timed-out calls, late answers.
local function dispatch_other_response(session, ok, msg, sz)
    local co = session_id_coroutine[session]
    if co then
        session_id_coroutine[session] = nil
        if co == "BREAK" then return end
        running_thread = co
        return suspend(co, coroutine_resume(co, ok, msg, sz))
    end
    local f = timeout_funcs[session]
    if f then
        timeout_funcs[session] = nil
        co = co_get()
        running_thread = co
        return suspend(co, coroutine_resume(co, f))
    end
    local call = call_timers[session]
    if call then
        call_timers[session] = nil
        local waiting = session_id_coroutine[call]
        if waiting then
            session_id_coroutine[call] = nil
            dropped[call] = true
            running_thread = waiting
            return suspend(waiting, coroutine_resume(waiting, TIMEOUT))
        end
        return
    end
    if dropped[session] then
        dropped[session] = nil
        return
    end
    c_error(format("%s for unknown session %d dropped", ok and "response" or "error", session),
        "warn")
end

local function request_main(f, session, source, unpack, msg, sz)
    return f(session, source, unpack(msg, sz))
end

local function refuse(prototype, session, source)
    local text = format("service %s has no dispatch function for message type %d",
        address(skynet.self()), prototype)
    c_error(text .. " from " .. address(source), "warn")
    if session > 0 then c_send(source, PTYPE_ERROR, session, text) end
end

local function run_forks()
    while fork_head <= fork_tail do
        local co = fork_queue[fork_head]
        local f = fork_funcs[fork_head]
        fork_queue[fork_head], fork_funcs[fork_head] = nil, nil
        fork_head = fork_head + 1
        running_thread = co
        suspend(co, coroutine_resume(co, f))
    end
    fork_head, fork_tail = 1, 0
end

-- The hot paths (a response waking a call, a request starting a handler) are written inline.
local function dispatch_message(prototype, msg, sz, session, source)
    if prototype == PTYPE_RESPONSE then
        local co = session_id_coroutine[session]
        if co and co ~= "BREAK" then
            session_id_coroutine[session] = nil
            running_thread = co
            local ok, command = coroutine_resume(co, true, msg, sz)
            if ok and command == "SUSPEND" then
                running_thread = nil
                if wakeup_head <= wakeup_tail then dispatch_wakeup() end
            else
                suspend(co, ok, command)
            end
        else
            dispatch_other_response(session, true, msg, sz)
        end
    elseif prototype == PTYPE_ERROR then
        if session > 0 then dispatch_other_response(session, false, c_tostring(msg, sz) or "") end
    else
        local p = proto[prototype]
        local f = p and p.dispatch
        if f then
            local co = coroutine_pool[pool_size]
            if co then
                pool_size = pool_size - 1
            else
                co = coroutine_create(co_loop)
            end
            session_coroutine_id[co] = session
            if session > 0 then session_coroutine_address[co] = source end
            running_thread = co
            local ok, command = coroutine_resume(co, request_main, f, session, source, p.unpack,
                msg, sz)
            if ok and command == "EXIT" and session_coroutine_id[co] == nil then
                -- Answered and done: straight back to the pool.
                running_thread = nil
                if pool_size < POOL_MAX then
                    pool_size = pool_size + 1
                    coroutine_pool[pool_size] = co
                end
                if wakeup_head <= wakeup_tail then dispatch_wakeup() end
            else
                suspend(co, ok, command)
            end
        else
            refuse(prototype, session, source)
        end
    end
    if fork_head <= fork_tail then run_forks() end
end
skynet.dispatch_message = dispatch_message

----------------------------------------------------------------------------------------------
-- Protocols

function skynet.register_protocol(class)
    local name, id = class.name, class.id
    assert(type(name) == "string" and math.type(id) == "integer" and id >= 0 and id <= 255,
        "register_protocol needs a name and an id in 0..255")
    assert(proto[name] == nil and proto[id] == nil, "protocol " .. name .. " registered twice")
    proto[name] = class
    proto[id] = class
end

function skynet.dispatch(typename, func)
    local p = assert(proto[typename], "unknown protocol")
    local old = p.dispatch
    if func ~= nil then p.dispatch = func end
    return old
end

local function protocol(typename)
    local p = proto[typename]
    if not p then error(format("unknown protocol %s", tostring(typename)), 3) end
    return p
end

skynet.register_protocol { name = "lua", id = skynet.PTYPE_LUA, pack = c.pack, unpack = c.unpack }
skynet.register_protocol { name = "response", id = PTYPE_RESPONSE }
skynet.register_protocol { name = "error", id = PTYPE_ERROR, unpack = c.tostring }

----------------------------------------------------------------------------------------------
-- Messages

function skynet.send(addr, typename, ...)
    local p = protocol(typename)
    return c_send(addr, p.id, 0, p.pack(...)) ~= false
end

function skynet.rawsend(addr, typename, msg, sz)
    return c_send(addr, protocol(typename).id, 0, msg, sz) ~= false
end

function skynet.redirect(addr, source, typename, session, msg, sz)
    local id = type(typename) == "number" and typename or protocol(typename).id
    return c.redirect(addr, source, id, session, msg, sz)
end

local function call_failed(addr, text)
    if text == "" or text == nil then text = "service is dead or exited before answering" end
    return format("call to %s failed: %s", address(addr), text)
end

-- Sends a request; returns its session, or raises when addr is not a live service.
local function request(addr, id, msg, sz)
    local session, failed = c_send(addr, id, nil, msg, sz)
    if session then return session end
    if failed then dropped[failed] = true end  -- its error reply comes anyway
    error(call_failed(addr, "service is dead"), 3)
end

function skynet.rawcall(addr, typename, msg, sz)
    local session = request(addr, protocol(typename).id, msg, sz)
    local ok, rmsg, rsz = yield_session(session)
    if not ok then error(call_failed(addr, rmsg), 2) end
    return rmsg, rsz
end

function skynet.call(addr, typename, ...)
    local p = proto[typename] or protocol(typename)
    local session, failed = c_send(addr, p.id, nil, p.pack(...))
    if not session then
        if failed then dropped[failed] = true end
        error(call_failed(addr, "service is dead"), 2)
    end
    session_id_coroutine[session] = running_thread
    local ok, msg, sz = coroutine_yield "SUSPEND"
    if not ok then error(call_failed(addr, msg), 2) end
    return p.unpack(msg, sz)
end

-- skynet.call that gives up after ms milliseconds (rounded up to the 10 ms timer tick) with the
-- error "call to :addr timed out after N ms". A response arriving later is dropped.
function skynet.calltimeout(ms, addr, typename, ...)
    assert(math.type(ms) == "integer" and ms >= 0, "calltimeout needs a timeout in ms")
    local p = protocol(typename)
    local session = request(addr, p.id, p.pack(...))
    call_timers[c_timeout((ms + 9) // 10)] = session
    local ok, msg, sz = yield_session(session)
    if ok == TIMEOUT then
        error(format("call to %s timed out after %d ms", address(addr), ms), 2)
    elseif not ok then
        error(call_failed(addr, msg), 2)
    end
    return p.unpack(msg, sz)
end

function skynet.ret(msg, sz)
    local co = running_thread
    local session = session_coroutine_id[co]
    if session == nil then error("skynet.ret: no request to answer in this coroutine", 2) end
    session_coroutine_id[co] = nil
    if session == 0 then
        if sz ~= nil then c.trash(msg, sz) end
        return false
    end
    local addr = session_coroutine_address[co]
    session_coroutine_address[co] = nil
    return c_send(addr, PTYPE_RESPONSE, session, msg, sz) ~= false
end

function skynet.retpack(...)
    local co = running_thread
    local session = session_coroutine_id[co]
    if not session then error("skynet.retpack: no request to answer in this coroutine", 2) end
    session_coroutine_id[co] = nil
    if session == 0 then return false end
    local addr = session_coroutine_address[co]
    session_coroutine_address[co] = nil
    return c_send(addr, PTYPE_RESPONSE, session, c_pack(...)) ~= false
end

function skynet.ignoreret()
    session_coroutine_id[running_thread] = nil
    session_coroutine_address[running_thread] = nil
end

-- Returns response(ok, ...) to answer the current request later, once: response(true, ...)
-- sends the values packed with `pack`, response(false [, text]) an error; response("TEST")
-- tells whether it is still unanswered.
function skynet.response(pack)
    pack = pack or c.pack
    local co = running_thread
    local session = session_coroutine_id[co]
    if session == nil then error("skynet.response: no request to answer in this coroutine", 2) end
    session_coroutine_id[co] = nil
    local addr = session_coroutine_address[co]
    session_coroutine_address[co] = nil
    if session == 0 then return function() return false end end
    local response
    response = function(ok, ...)
        if ok == "TEST" then return unresponse[response] ~= nil end
        if not unresponse[response] then error("response already sent", 2) end
        unresponse[response], unresponse_session[response] = nil, nil
        if ok then return c_send(addr, PTYPE_RESPONSE, session, pack(...)) ~= false end
        return c_send(addr, PTYPE_ERROR, session, tostring((...) or "request refused")) ~= false
    end
    unresponse[response] = addr
    unresponse_session[response] = session
    return response
end

----------------------------------------------------------------------------------------------
-- Time, forks and waiting

function skynet.time()
    return c.now() / 100 + c.starttime()
end

function skynet.timeout(ti, func)
    local session = c_timeout(ti)
    assert(session)
    timeout_funcs[session] = func
    return session
end

function skynet.fork(func, ...)
    local f = func
    if select("#", ...) > 0 then
        local args = tpack(...)
        f = function() return func(tunpack(args, 1, args.n)) end
    end
    local co = co_get()
    fork_tail = fork_tail + 1
    fork_queue[fork_tail], fork_funcs[fork_tail] = co, f
    return co
end

-- Sleeps ti centiseconds. Returns "BREAK" when woken early by skynet.wakeup(token).
function skynet.sleep(ti, token)
    token = token or running_thread
    local session = c_timeout(ti)
    sleep_session[token] = session
    local ok, err = yield_session(session)
    sleep_session[token] = nil
    if ok == "BREAK" then return "BREAK" end
    if not ok then error(err, 2) end
end

function skynet.yield()
    return skynet.sleep(0)
end

-- Waits until skynet.wakeup(token) (token defaults to the running coroutine).
function skynet.wait(token)
    token = token or running_thread
    local session = c_genid()
    sleep_session[token] = session
    yield_session(session)
    sleep_session[token] = nil
    session_id_coroutine[session] = nil
end

function skynet.wakeup(token)
    if sleep_session[token] then
        wakeup_tail = wakeup_tail + 1
        wakeup_queue[wakeup_tail] = token
        return true
    end
    return false
end

----------------------------------------------------------------------------------------------
-- Services

local function join_args(name, ...)
    local n = select("#", ...)
    if n == 0 then return tostring(name) end
    local parts = { tostring(name) }
    for i = 1, n do parts[i + 1] = tostring((select(i, ...))) end
    return table.concat(parts, " ")
end

-- Launches a Lua service and waits until its start function has returned. Runs in the caller:
-- the child's main chunk runs right here, its start function on its own worker afterwards.
function skynet.newservice(name, ...)
    local args = join_args(name, ...)
    local session = c_genid()
    local handle, err = c.launch("snlua", args, session)
    if not handle then error(format("newservice %s failed: %s", args, err), 2) end
    local ok, msg = yield_session(session)
    if not ok then error(format("newservice %s failed: %s", args, msg), 2) end
    return handle
end

function skynet.uniqueservice(global, ...)
    if global == true then return skynet.call(".service", "lua", "LAUNCH", ...) end
    return skynet.call(".service", "lua", "LAUNCH", global, ...)
end

function skynet.queryservice(global, ...)
    if global == true then return skynet.call(".service", "lua", "QUERY", ...) end
    return skynet.call(".service", "lua", "QUERY", global, ...)
end

function skynet.localname(name)
    return c.query(name)
end

function skynet.register(name)
    if not c.register(name) then error("cannot register name " .. tostring(name), 2) end
end

function skynet.name(name, handle)
    if not c.register(name, handle) then
        error(format("cannot name %s %s", address(handle), tostring(name)), 2)
    end
end

function skynet.kill(addr)
    return c.kill(addr)
end

function skynet.abort(code)
    c.abort(code or 0)
end

-- Retires this service after the current message; requests it has not answered get errors.
function skynet.exit()
    exiting = "exit"
    fork_head, fork_tail, fork_queue, fork_funcs = 1, 0, {}, {}
    c.exit()
    if coroutine_isyieldable() then coroutine_yield "QUIT" end
end

local function on_release()
    local why = exiting and "exited" or "was killed"
    local me = address(skynet.self())
    local text = format("service %s %s before answering", me, why)
    for co, session in pairs(session_coroutine_id) do
        if session ~= 0 then c_send(session_coroutine_address[co], PTYPE_ERROR, session, text) end
    end
    for response, addr in pairs(unresponse) do
        c_send(addr, PTYPE_ERROR, unresponse_session[response], text)
    end
    session_coroutine_id, unresponse = {}, {}
    if start_pending then
        start_pending = false
        if exiting then
            c.started(true)  -- skynet's rule: a service may finish its work in start and exit
        else
            c.started(false, format("service %s was killed during its start function", me))
        end
    end
end

function skynet.error(...)
    local n = select("#", ...)
    local text
    if n == 1 then
        text = tostring((...))
    else
        local parts = {}
        for i = 1, n do parts[i] = tostring((select(i, ...))) end
        text = table.concat(parts, " ")
    end
    c_error(text)
end

function skynet.getenv(key)
    return c.getenv(key)
end

function skynet.setenv(key, value)
    assert(c.getenv(key) == nil, "can't setenv an existing key: " .. tostring(key))
    c.setenv(key, tostring(value))
end

function skynet.memlimit(bytes)
    return c.memlimit(bytes)
end

local stat_index = { message = 1, cpu = 2, mqlen = 3, memory = 4, endless = 5 }
function skynet.stat(what)
    local i = stat_index[what]
    if not i then error("skynet.stat: unknown item " .. tostring(what), 2) end
    return (select(i, c.stat()))
end

-- task() -> number of coroutines waiting for a session; task(t) fills t[session] with their
-- tracebacks; task(session) -> that coroutine's traceback.
function skynet.task(ret)
    if type(ret) == "number" then
        local co = session_id_coroutine[ret]
        return type(co) == "thread" and traceback(co) or nil
    end
    local n = 0
    for session, co in pairs(session_id_coroutine) do
        if type(co) == "thread" then
            n = n + 1
            if type(ret) == "table" then ret[session] = traceback(co) end
        end
    end
    return n
end

----------------------------------------------------------------------------------------------
-- Start

local init_funcs = {}

function skynet.init(f)
    if init_funcs then
        init_funcs[#init_funcs + 1] = f
    else
        f()
    end
end

local function run_init(start)
    local funcs = init_funcs
    init_funcs = nil
    for i = 1, #funcs do funcs[i]() end
    start()
end

function skynet.init_service(start)
    local ok, err = xpcall(run_init, traceback, start)
    start_pending = false
    if ok then
        c.started(true)
        return
    end
    c_error("start function failed: " .. tostring(err), "error")
    c.started(false, (tostring(err):match("^[^\n]*")))
    skynet.exit()
end

-- Installs the dispatcher; start() runs in the service's first message, after the main chunk.
function skynet.start(start)
    c.callback(dispatch_message, on_release)
    start_pending = true
    skynet.timeout(0, function() skynet.init_service(start) end)
end

-- For skynet.coroutine: the running message coroutine.
function skynet.running_thread()
    return running_thread
end

-- Every Lua service answers the debug protocol (the debug console's mem, gc, task, info, ping).
require("skynet.debug").init(skynet)

return skynet
