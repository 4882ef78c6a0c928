-- skynet.multicast: channels that deliver one publication to many subscriber services. The
-- members of each channel are kept by services/lua/multicastd.lua (launched on first use).
--
--   local multicast = require "skynet.multicast"
--   local c = multicast.new { channel = id (optional: a new channel when absent),
--                             dispatch = function(c, source, ...) end, pack = f, unpack = f }
--   c.channel                 the channel's id (a number), to hand to other services
--   c:subscribe()             [yields] this service gets the channel's publications
--   c:unsubscribe()           stops them (publications already sent are dropped on arrival)
--   c:publish(...)            [yields] packs ... once (conf.pack, default skynet.pack) and has it
--                             delivered to every subscriber; returns once all were sent
--   c:delete()                forgets the channel (for everyone); yields only when this service
--                             has not talked to multicastd before
--
-- A subscriber's dispatch runs in a message coroutine of its own, with the publisher's address
-- as source and the values unpacked by conf.unpack (default skynet.unpack). An error in dispatch
-- is logged with its traceback and answers nobody. A channel object that is collected
-- unsubscribes. new with no channel yields (it asks multicastd for one).
local skynet = require "skynet"

local type, setmetatable, format = type, setmetatable, string.format
local tostring_msg, trash = skynet.tostring, skynet.trash

local multicast = {}

local daemon
local function multicastd()
    if not daemon then daemon = skynet.uniqueservice "multicastd" end
    return daemon
end

-- channel id -> the subscribed channel object of this service (weak: a collected object
-- unsubscribes from its finalizer).
local subscribed = setmetatable({}, { __mode = "v" })

local chan = {}
local chan_meta = {
    __index = chan,
    __gc = function(self) self:unsubscribe() end,
    __tostring = function(self) return format("[Multicast:%x]", self.channel or 0) end,
}

function multicast.new(conf)
    conf = conf or {}
    local id = conf.channel
    if id == nil then
        id = skynet.call(multicastd(), "lua", "NEW")
    elseif math.type(id) ~= "integer" or id <= 0 then
        error("multicast.new: channel must be an id from another channel's .channel, got " ..
            tostring(id), 2)
    end
    if conf.dispatch ~= nil and type(conf.dispatch) ~= "function" then
        error("multicast.new: dispatch must be a function", 2)
    end
    return setmetatable({
        channel = id,
        __pack = conf.pack or skynet.pack,
        __unpack = conf.unpack or skynet.unpack,
        __dispatch = conf.dispatch,
    }, chan_meta)
end

local function id_of(self, what)
    local id = self.channel
    if id == nil then error("multicast." .. what .. ": the channel was deleted", 3) end
    return id
end

function chan:publish(...)
    local id = id_of(self, "publish")
    local msg, sz = self.__pack(...)
    local bytes = msg
    if type(msg) ~= "string" then
        bytes = tostring_msg(msg, sz)
        trash(msg, sz)
    end
    skynet.call(multicastd(), "lua", "PUB", id, bytes)
end

function chan:subscribe()
    local id = id_of(self, "subscribe")
    if self.__subscribe then return end
    if not self.__dispatch then error("multicast.subscribe: the channel has no dispatch", 2) end
    skynet.call(multicastd(), "lua", "SUB", id)
    self.__subscribe = true
    subscribed[id] = self
end

function chan:unsubscribe()
    if not self.__subscribe then return end
    self.__subscribe = nil
    local id = self.channel
    if subscribed[id] == self then subscribed[id] = nil end
    if daemon then skynet.send(daemon, "lua", "USUB", id) end
end

function chan:delete()
    local id = id_of(self, "delete")
    if subscribed[id] == self then subscribed[id] = nil end
    skynet.send(multicastd(), "lua", "DEL", id)
    self.channel = nil
    self.__subscribe = nil
end

-- A publication: session is the channel id, negated (see multicastd.lua); msg, sz the bytes.
local function deliver(session, source, msg, sz)
    local self = subscribed[-session]
    if not self or not self.__subscribe then return end  -- unsubscribed while it was on its way
    self.__dispatch(self, source, self.__unpack(msg, sz))
end

skynet.register_protocol {
    name = "multicast", id = skynet.PTYPE_MULTICAST, dispatch = deliver,
}

return multicast
