-- A service for the tests: answers "lua" requests by command.
--   echo ...            -> the same values
--   sleep cs, ...       -> the values, after sleeping cs centiseconds
--   raise text          -> raises text
--   later cs, ...       -> answers through skynet.response after cs centiseconds
--   refuse text         -> answers with response(false, text)
--   noanswer            -> returns without answering
--   ignore              -> skynet.ignoreret() and returns
--   count               -> how many "note" sends arrived, and their values in order
--   exit                -> answers, then exits
local skynet = require "skynet"

local notes = {}
local CMD = {}

function CMD.echo(...) return skynet.retpack(...) end

function CMD.sleep(cs, ...)
    skynet.sleep(cs)
    return skynet.retpack(...)
end

function CMD.raise(text) error(text) end

function CMD.later(cs, ...)
    local response = skynet.response()
    local args = table.pack(...)
    skynet.fork(function()
        skynet.sleep(cs)
        assert(response("TEST") == true, "response TEST before use")
        response(true, table.unpack(args, 1, args.n))
        assert(response("TEST") == false, "response TEST after use")
        local ok = pcall(response, true, "again")
        assert(not ok, "a response closure answers twice")
    end)
end

function CMD.refuse(text)
    local response = skynet.response()
    response(false, text)
end

function CMD.noanswer() end

function CMD.ignore() skynet.ignoreret() end

function CMD.note(v) notes[#notes + 1] = v end

function CMD.count() return skynet.retpack(#notes, table.unpack(notes)) end

function CMD.exit()
    skynet.retpack(true)
    skynet.exit()
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error("helper_echo: unknown command " .. tostring(cmd)) end
        f(...)
    end)
end)
