-- A multicast subscriber for test_multicast. Requests (lua):
--   SUB id      subscribes to channel id; every publication is logged as { source, values }
--   USUB id     unsubscribes        LOG -> the log so far (and clears it)
--   FAIL id     the next publication on id raises inside dispatch
--   PUB id ...  publishes ... on channel id      UNPACKS -> how many times unpack ran
local skynet = require "skynet"
local multicast = require "skynet.multicast"

local log, chans, failing, unpacks = {}, {}, {}, 0

local function record(c, source, ...)
    if failing[c.channel] then
        failing[c.channel] = nil
        error("dispatch failed on purpose")
    end
    log[#log + 1] = { channel = c.channel, source = source, n = select("#", ...), ... }
end

local function chan(id)
    local c = chans[id]
    if not c then
        c = multicast.new {
            channel = id, dispatch = record,
            unpack = function(msg, sz)
                unpacks = unpacks + 1
                return skynet.unpack(msg, sz)
            end,
        }
        chans[id] = c
    end
    return c
end

local CMD = {}
function CMD.SUB(id) chan(id):subscribe() end
function CMD.USUB(id) chan(id):unsubscribe() end
function CMD.FAIL(id) failing[id] = true end
function CMD.PUB(id, ...) chan(id):publish(...) end
function CMD.LOG()
    local l = log
    log = {}
    return l
end
function CMD.UNPACKS() return unpacks end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        skynet.retpack(CMD[cmd](...))
    end)
end)
