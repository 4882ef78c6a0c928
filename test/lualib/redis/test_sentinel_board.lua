-- The failover timeline of the sentinel watcher on the status board (sentinel_board.lua): a
-- sentinel's event of the timeline is on the board at once, also when it changes nothing else of
-- the group's state. After a graceful failover the watcher has usually followed the promoted
-- replica (it answered ROLE as master) before the sentinels announce +switch-master, which then
-- moves no state; the board must still show it. No servers: the group's state changes are
-- stubbed as the watcher makes them when nothing changed (no publish).
local metrics = require "skynet.metrics"
local t = require "tlib"
local events = require "skynet.db.redis.sentinel_events"
local board = require "skynet.db.redis.sentinel_board"

local function has(tl, event)
    for _, e in ipairs(tl or {}) do
        if e.event == event then return true end
    end
    return false
end

t.run(function()
    local class = {}
    class.__index = class
    events.install(class)
    board.install(class)
    local publishes = 0
    function class:publish() publishes = publishes + 1 end  -- the state is unchanged
    function class:poll_soon() end
    local g = setmetatable({ name = "boardtest", sentinels = {}, pending_epoch = 0, quiet = 1,
        state = { master = "127.0.0.1:7002", failover = false, epoch = 3, replicas = {} } }, class)

    -- The clients already write to the promoted replica (state.master), so this event about
    -- the old master holds nothing: only the timeline takes it.
    g:on_event("+selected-slave",
        "slave 127.0.0.1:7002 127.0.0.1 7002 @ boardtest 127.0.0.1 7001")
    t.wait_until(function()
        local e = metrics.board("sentinel").boardtest
        return e and has(e.last_failover, "+selected-slave")
    end, 100, "the failover's first event on the board")

    g:on_event("+switch-master", "boardtest 127.0.0.1 7001 127.0.0.1 7002")
    t.eq(publishes, 1, "the switch went to the state, which did not change")
    t.wait_until(function()
        local e = metrics.board("sentinel").boardtest
        return e and has(e.last_failover, "+switch-master")
    end, 100, "the switch on the board although the state did not change")
    local tl = metrics.board("sentinel").boardtest.last_failover
    t.eq(tl[1].event, "+selected-slave", "in order")
    t.eq(tl[#tl].event, "+switch-master", "the end last")
    g:board_remove()
end)
