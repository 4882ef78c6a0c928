-- The sentinels' events for the sentinel watcher: a PSUBSCRIBE * kept on each sentinel, and
-- what each event of a watched master does to its group's state (see sentinel_watcher.lua).
-- Events carry no config epoch; the polls that follow an event fill it in.
--
-- Thread: the owning service. subscriber yields.
local skynet = require "skynet"
local watch = require "skynet.db.redis.watch"

local format, tostring, tonumber = string.format, tostring, tonumber
local sleep = skynet.sleep

local M = {}
local group = {}

local function split(addr)
    local host, port = addr:match("^(.*):(%d+)$")
    return host, tonumber(port)
end

-- Events that say a failover of the master named in them has reached the point where the chosen
-- replica may stop replicating from it: the leader announces +selected-slave, then sends it
-- REPLICAOF NO ONE on its next timer round (about 100 ms later). Writes acknowledged by the old
-- master before that reach the replica; writes after it would be lost, so clients hold from here.
-- The earlier steps (+try-failover, +elected-leader, +failover-state-select-slave) detach
-- nothing and do not hold. The value says whether the event's instance is the chosen replica.
local HOLD_EVENTS = {
    ["+selected-slave"] = true, ["+failover-state-send-slaveof-noone"] = true,
    ["+failover-state-wait-promotion"] = true, ["+promoted-slave"] = true,
    ["+failover-state-reconf-slaves"] = false,
}

function group:on_event(channel, payload)
    if type(payload) ~= "string" then return end
    local w = {}
    for word in payload:gmatch("%S+") do w[#w + 1] = word end
    -- The failover timeline of the status board (sentinel_board.lua).
    if (channel == "+switch-master" and w[1] == self.name) or (w[1] == "master" and w[2] == self.name)
        or (w[5] == "@" and w[6] == self.name) then
        self:board_event(channel, payload)
        -- Shown now: the state below may not change (the watcher may have followed the
        -- promoted replica before the sentinels announce +switch-master), and then nothing
        -- else would publish the entry.
        if self.state then self:board_publish() end
    end
    local st = self.state
    if channel == "+switch-master" then
        if w[1] ~= self.name or not w[5] then return end
        self.quiet = 0
        -- A switch always raises the config epoch: even with no +new-epoch heard, a sentinel
        -- still naming the old master with the old epoch cannot move the clients back.
        local epoch = st.epoch
        if w[4] .. ":" .. w[5] ~= st.master then epoch = epoch + 1 end
        self:publish { master = w[4] .. ":" .. w[5], failover = false,
            epoch = math.max(epoch, self.pending_epoch), err = false }
        self:poll_soon()  -- the epoch and the replicas of the new configuration
        return
    elseif channel == "+new-epoch" then
        self.pending_epoch = math.max(self.pending_epoch, tonumber(w[1]) or -1)
        return
    end
    -- Instance events: "master <name> <ip> <port>" or
    -- "<type> <id> <ip> <port> @ <name> <master ip> <master port>".
    local master, master_addr
    if w[1] == "master" then
        master, master_addr = w[2], w[3] and w[4] and (w[3] .. ":" .. w[4])
    elseif w[5] == "@" then
        master, master_addr = w[6], w[7] and w[8] and (w[7] .. ":" .. w[8])
    end
    if master ~= self.name then return end
    local names_replica = HOLD_EVENTS[channel]
    if names_replica ~= nil then
        -- Only a failover of the master the clients write to holds them: once the chosen
        -- replica answered ROLE as master (promote_watch), the leader's later steps about the
        -- old master change nothing.
        if master_addr ~= st.master then return end
        if names_replica and w[3] and w[4] then self:promote_watch(w[3] .. ":" .. w[4]) end
        if not st.failover then
            self.quiet = 0
            self:publish { failover = true }
        end
        if channel == "+failover-state-reconf-slaves" or channel == "+promoted-slave" then
            self:poll_soon()  -- the leader now names the promoted replica
        end
    elseif channel:sub(1, 16) == "-failover-abort-" then
        self:publish { failover = false }
        self:poll_soon()
    elseif channel == "+sentinel" and w[1] == "sentinel" then
        self:add_sentinel(w[3] .. ":" .. w[4])
    elseif w[1] == "slave" then
        self:poll_soon()  -- the healthy replicas may have changed
    end
end

-- Keeps a PSUBSCRIBE * on one sentinel until the group stops. Yields.
function group:subscriber(addr)
    if self.subscribed[addr] then return end
    self.subscribed[addr] = true
    self.nsubscribed = self.nsubscribed + 1
    local host, port = split(addr)
    local pause, logged = 10, nil
    while not self.stopped do
        local ok, w = pcall(watch.new, { host = host, port = port, auth = self.auth,
            username = self.username, timeout = 1000, connect_timeout = 500, backoff_min = 50,
            backoff_max = 1000 })
        if ok then
            pause, logged = 10, nil
            self.watches[addr] = w
            -- Events published while the link was down are lost: poll after each reconnect.
            local restore = w.conn.on_ready
            w.conn.on_ready = function(c)
                restore(c)
                self:poll_soon()
            end
            if not self.stopped and pcall(w.psubscribe, w, "*") then
                while true do
                    local got, msg, channel = pcall(w.message, w)
                    if not got then break end
                    self:on_event(channel, msg)
                end
            end
            self.watches[addr] = nil
            w:disconnect()
        else
            if logged ~= w then
                logged = w
                skynet.error(format("sentinel watcher %s: no events from %s yet: %s", self.name,
                    addr, tostring(w)))
            end
            sleep(pause)
            pause = math.min(pause * 2, 200)
        end
    end
end

-- Adds on_event and subscriber to the group class.
function M.install(class)
    for k, f in pairs(group) do class[k] = f end
end

return M
