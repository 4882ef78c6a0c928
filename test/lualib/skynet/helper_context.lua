-- A service for test_api_core: reports skynet.context() as seen by its handlers.
--   ctx            -> session, source seen before answering, and this service's handle
--   after          -> what context() said right after the previous "ctx" answered
--   note (a send)  -> records context() of the send; "noted" returns it
--   init           -> skynet.task "init" (nil: the start function has finished)
--   hang           -> waits for ever; kill_hung -> skynet.killthread of that handler (true)
--   forked         -> context() inside a fork made by the handler (on a pooled coroutine)
local skynet = require "skynet"

local after, noted = {}, {}
local CMD = {}

function CMD.ctx()
    local session, source = skynet.context()
    skynet.retpack(session, source, skynet.self())
    after = table.pack(skynet.context())
end

function CMD.after() skynet.retpack(after[1], after[2]) end

function CMD.note() noted = table.pack(skynet.context()) end

function CMD.noted() skynet.retpack(noted[1], noted[2]) end

function CMD.noop() skynet.retpack() end

function CMD.init() skynet.retpack(skynet.task "init") end

local hung
function CMD.hang()
    hung = coroutine.running()
    skynet.wait()
end

function CMD.kill_hung() skynet.retpack(skynet.killthread(hung) == hung) end

function CMD.forked()
    local response = skynet.response()
    -- A request of our own first, so the fork reuses a coroutine that handled a request.
    skynet.call(skynet.self(), "lua", "noop")
    skynet.fork(function()
        local session, source = skynet.context()
        response(true, session, source)
    end)
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...) CMD[cmd](...) end)
end)
