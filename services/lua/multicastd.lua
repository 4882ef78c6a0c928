-- The multicast service behind skynet.multicast (lualib/skynet/multicast.lua): channels and the
-- services subscribed to each. Launched by the first multicast call (uniqueservice
-- "multicastd"). Requests (protocol lua; `source` is the requesting service):
--   NEW                 -> a fresh channel id
--   DEL channel         (no answer needed) forgets the channel and its subscribers
--   SUB channel         -> subscribes source (once; subscribing again changes nothing)
--   USUB channel        (no answer needed) unsubscribes source
--   PUB channel msg     -> after msg (the publisher's packed bytes) went to every subscriber as a
--                          PTYPE_MULTICAST message from the publisher
-- The channel rides in each delivered message's session, negated: a negative session is never
-- answered, so a subscriber cannot mistake a publication for a request.
local skynet = require "skynet"
local core = require "skynet.core"

local PTYPE_MULTICAST = skynet.PTYPE_MULTICAST
local redirect = core.redirect

local channels = {}  -- id -> { [subscriber handle] = true }
local last_id = 0

local function channel_of(id, what)
    local group = channels[id]
    if not group then
        error(string.format("multicast.%s: channel %s does not exist (never made, or deleted)",
            what, tostring(id)), 0)
    end
    return group
end

local CMD = {}

function CMD.NEW()
    repeat last_id = last_id % 0x7fffffff + 1 until not channels[last_id]
    channels[last_id] = {}
    return skynet.retpack(last_id)
end

function CMD.DEL(_, id)
    channels[id] = nil
    skynet.retpack()
end

function CMD.SUB(source, id)
    channel_of(id, "subscribe")[source] = true
    skynet.retpack()
end

function CMD.USUB(source, id)
    local group = channels[id]
    if group then group[source] = nil end
    skynet.retpack()
end

function CMD.PUB(source, id, msg)
    local group = channel_of(id, "publish")
    for subscriber in pairs(group) do
        -- The message is the publisher's packed bytes as they are: packed once, copied into one
        -- message per subscriber. A subscriber that died is dropped from the channel.
        if not redirect(subscriber, source, PTYPE_MULTICAST, -id, msg) then group[subscriber] = nil end
    end
    skynet.retpack()
end

skynet.start(function()
    skynet.dispatch("lua", function(_, source, cmd, ...)
        local f = CMD[cmd]
        if not f then error("multicastd: unknown command " .. tostring(cmd), 0) end
        f(source, ...)
    end)
end)
