-- skynet.multicast: a publication is packed once and reaches every subscriber service (the
-- publisher included when it subscribed) in publication order, with the publisher as source;
-- unsubscribe, dead subscribers, delete, and errors in a subscriber's dispatch.
local skynet = require "skynet"
local multicast = require "skynet.multicast"
local t = require "tlib"

t.run(function()
    local packs = 0
    local mine = {}
    local c = multicast.new {
        pack = function(...)
            packs = packs + 1
            return skynet.pack(...)
        end,
        dispatch = function(ch, source, ...)
            mine[#mine + 1] = { ch = ch, source = source, n = select("#", ...), ... }
        end,
    }
    t.eq(math.type(c.channel), "integer", "new makes a channel id")
    t.ok(multicast.new().channel ~= c.channel, "each new channel has its own id")
    t.ok(tostring(c):find("^%[Multicast:%x+%]$"), "tostring")

    local subs = {}
    for i = 1, 3 do
        subs[i] = skynet.newservice "helper_multicast"
        skynet.call(subs[i], "lua", "SUB", c.channel)
    end
    skynet.call(subs[1], "lua", "SUB", c.channel)  -- twice: still one delivery
    c:subscribe()

    -- One publish: packed once here, unpacked once in each subscriber. When publish returns
    -- every delivery is queued, so a later request to a subscriber finds it handled.
    c:publish("hello", { x = 1, list = { 1, 2 } }, nil, 42)
    t.eq(packs, 1, "packed once for four subscribers")
    for i = 1, 3 do
        local log = skynet.call(subs[i], "lua", "LOG")
        t.eq(#log, 1, "one delivery to subscriber " .. i)
        local m = log[1]
        t.eq(m.source, skynet.self(), "source is the publisher")
        t.eq(m.channel, c.channel, "channel")
        t.eq(m.n, 4, "value count, nil kept")
        t.ok(m[1] == "hello" and m[2].x == 1 and m[2].list[2] == 2 and m[3] == nil and m[4] == 42,
            "values")
        t.eq(skynet.call(subs[i], "lua", "UNPACKS"), 1, "unpacked once in subscriber " .. i)
    end
    t.wait_until(function() return #mine == 1 end, 100, "own delivery")
    t.eq(mine[1].ch, c, "dispatch gets the channel object")
    t.eq(mine[1][1], "hello", "the publisher subscribed gets its own publication")

    -- Publications arrive in order, also from another publisher (the source names it).
    for i = 1, 5 do c:publish(i) end
    skynet.call(subs[3], "lua", "PUB", c.channel, "from 3")
    local log = skynet.call(subs[2], "lua", "LOG")
    t.eq(#log, 6, "six publications")
    for i = 1, 5 do t.eq(log[i][1], i, "order " .. i) end
    t.eq(log[6].source, subs[3], "source of the other publisher")
    t.eq(log[6][1], "from 3", "its value")
    skynet.call(subs[1], "lua", "LOG")
    skynet.call(subs[3], "lua", "LOG")

    -- Unsubscribe: that service gets nothing more, the others still do.
    skynet.call(subs[1], "lua", "USUB", c.channel)
    c:unsubscribe()
    mine = {}
    c:publish "after"
    t.eq(#skynet.call(subs[1], "lua", "LOG"), 0, "unsubscribed service gets nothing")
    t.eq(skynet.call(subs[2], "lua", "LOG")[1][1], "after", "subscriber 2 still gets it")
    skynet.call(subs[3], "lua", "LOG")

    -- An error in a subscriber's dispatch stays there; its next publication is handled.
    skynet.call(subs[2], "lua", "FAIL", c.channel)
    c:publish "lost"
    c:publish "next"
    log = skynet.call(subs[2], "lua", "LOG")
    t.eq(#log, 1, "the failed one is not logged")
    t.eq(log[1][1], "next", "the subscriber goes on")
    t.eq(#skynet.call(subs[3], "lua", "LOG"), 2, "others got both")

    -- A subscriber that died is dropped; publishing goes on.
    skynet.kill(subs[3])
    c:publish "to the living"
    t.eq(skynet.call(subs[2], "lua", "LOG")[1][1], "to the living", "live subscriber")
    t.eq(#mine, 0, "own subscription ended")

    -- delete: the channel is gone for every holder of its id.
    local id = c.channel
    c:delete()
    t.eq(c.channel, nil, "deleted object has no id")
    t.raises({ "multicast.publish: the channel was deleted" }, c.publish, c, 1)
    t.raises({ "multicast.publish: channel " .. id .. " does not exist" }, skynet.call, subs[2],
        "lua", "PUB", id, "x")
    t.raises({ "multicast.subscribe: channel " .. id .. " does not exist" }, skynet.call, subs[1],
        "lua", "SUB", id)
    t.raises({ "channel must be an id" }, multicast.new, { channel = "five" })
end)
