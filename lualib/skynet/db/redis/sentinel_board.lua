-- What the sentinel watcher shows of a group (sentinel_watcher.lua): the Sentinel metrics of the
-- master name (skyhive_sentinel_master, skyhive_sentinel_failovers_total) and its entry in the
-- status board topic "sentinel" (docs/operations.md):
--   {master = "host:port", epoch = n, failover = bool, replicas = {"host:port"...},
--    sentinels = {"host:port"...}, err = text (no sentinel answered; else absent),
--    last_failover = { {at = ms, event = "+switch-master", detail = "..."}, ... }}
-- last_failover is the timeline of the latest failover: the sentinels' events about the master
-- from up to EARLY_MS before its start (+sdown, +odown) to its end (+switch-master, an abort, or
-- the polls naming a new master: "master-changed") and what follows within TAIL_MS, each event
-- once (the first sentinel to tell it), with the watcher's own steps: "writes-held" (clients
-- hold their commands) and "writes-released".
--
-- Thread: the watcher's service; nothing here yields.
local skynet = require "skynet"
local instr = require "skynet.db.redis.instr"
local metrics = require "skynet.metrics"

local floor = math.floor

local M = {}
local group = {}

local RECENT = 32          -- events kept before a failover starts
local EARLY_MS = 60000     -- how far before the start the timeline reaches
local MAX_TIMELINE = 64
local TAIL_MS = 10000      -- events this soon after the end still join the timeline

-- Events that start a failover's timeline.
local STARTS = {
    ["+try-failover"] = true, ["+elected-leader"] = true, ["+failover-state-select-slave"] = true,
    ["+selected-slave"] = true, ["+failover-state-send-slaveof-noone"] = true,
    ["+failover-state-wait-promotion"] = true, ["+promoted-slave"] = true,
    ["+failover-state-reconf-slaves"] = true, ["+switch-master"] = true,
}

local function now_ms()
    return floor(skynet.time() * 1000)
end

local function copy_list(t)
    local o = {}
    for i = 1, #(t or {}) do o[i] = t[i] end
    return o
end

local function append(tl, e)
    for i = 1, #tl do
        if tl[i].event == e.event and tl[i].detail == e.detail then return end
    end
    if #tl < MAX_TIMELINE then tl[#tl + 1] = e end
end

-- Publishes the group's entry on the board.
function group:board_publish()
    local st = self.state
    metrics.publish("sentinel", self.name, {
        master = st.master or nil, epoch = st.epoch, failover = st.failover and true or false,
        replicas = copy_list(st.replicas), sentinels = copy_list(self.sentinels),
        err = st.err or nil, last_failover = self.timeline or {},
    })
end

-- The group stopped (no client uses it): its entry goes.
function group:board_remove()
    metrics.publish("sentinel", self.name, nil)
end

-- An event of a sentinel about this group's master (or a step of the watcher's own).
function group:board_event(event, detail)
    local e = { at = now_ms(), event = event, detail = detail or "" }
    local recent = self.recent
    if not recent then
        recent = {}
        self.recent = recent
    end
    recent[#recent + 1] = e
    if #recent > RECENT then table.remove(recent, 1) end
    if self.timeline_open then
        append(self.timeline, e)
    elseif self.closed_at and e.at - self.closed_at < TAIL_MS then
        -- The end's echoes (the other sentinels' +switch-master, the release of the writes).
        append(self.timeline, e)
    elseif STARTS[event] then
        self.timeline_open = true
        local tl = {}
        for i = 1, #recent do
            if recent[i].at >= e.at - EARLY_MS then append(tl, recent[i]) end
        end
        self.timeline = tl
    end
    if self.timeline_open and (event == "+switch-master" or event:sub(1, 16) == "-failover-abort-"
        or event == "master-changed") then
        self.timeline_open = false
        self.closed_at = e.at
    end
end

-- The master address moved from `old` (nil before the first answer) to `new`.
function group:board_master(old, new)
    local m = instr.sentinel(self.name)
    if old then m.master(old):set(0) end
    if new then m.master(new):set(1) end
    if old and new and old ~= new then
        m.failovers:inc()
        self:board_event("master-changed", old .. " -> " .. new)
    end
end

-- Adds the board functions to the group class.
function M.install(class)
    for k, f in pairs(group) do class[k] = f end
end

return M
