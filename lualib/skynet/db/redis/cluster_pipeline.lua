-- Pipelines of the Redis Cluster client (cluster_router.lua): a pipeline is split into one part
-- per node, each part a batch request sent at once; the replies are merged back in the caller's
-- order, and a command a node redirected is sent again alone (in order, within the pipeline's
-- deadline).
--
-- Thread: the owning service; await yields.
local codec = require "skyhive.redis.codec"
local keys = require "skynet.db.redis.cluster_keys"
local connection = require "skynet.db.redis.connection"
local request = require "skynet.db.redis.request"
local skynet = require "skynet"

local format, tpack, tostring, upper, type, getmetatable = string.format, table.pack, tostring,
    string.upper, type, getmetatable
local error_mt = codec.error_mt
local wait = skynet.wait
local slot_of = codec.slot
local upper_name = keys.upper_name

local M = {}

local bad_args = connection.bad_args
local slots_of = codec.slots

-- A command's slot (-1: keyless), for the commands slots_of leaves to Lua. Raises the
-- CROSSSLOT error naming the pipeline position. Remembers in `single` the names it finds to be
-- single-key commands, so that slots_of decides them next time.
local function slot_at(self, specs, single, cmd, i)
    local name = cmd[1]
    local spec = specs[name] or specs[upper_name[name]]
    if spec and spec.single then
        single[name] = true
        local key = cmd[2]
        local t = type(key)
        if t == "string" or t == "number" then return slot_of(key) end
    end
    local s, err = keys.slot(specs, cmd)
    if not s then error(format("%s: pipeline #%d %s", self.addr, i, err), 0) end
    return s
end

-- Position -> slot of the pipeline being split; reused (split does not yield).
local scratch = {}

-- A pipeline becomes one part per node (a request each, `idx` = the positions it carries); a
-- keyless command (WAIT, PING) goes with the command before it, or the first keyed one.
-- Checks every command's arguments first (the router's check_args texts), then the slots.
-- Each part counts down its pipeline's `left` when it is done (connection.lua's finish), so that
-- the caller wakes once per pipeline.
function M.split(self, r)
    local cmds = r.cmds
    local specs, slots = self.specs, self.map.slots
    local single = self.single
    if not single or self.single_of ~= specs then
        single = {}
        self.single, self.single_of = single, specs
    end
    local ks = scratch
    local n = slots_of(cmds, single, ks)
    local slow = false
    for i = 1, n do
        if ks[i] == -2 then
            slow = true
            local why = bad_args(cmds[i])
            if why then
                error(format("%s: %s: #%d %s: %s", self.addr, r[1], i,
                    upper(tostring(cmds[i][1])), why), 0)
            end
        end
    end
    if slow then
        for i = 1, n do
            if ks[i] == -2 then ks[i] = slot_at(self, specs, single, cmds[i], i) end
        end
    end
    -- The caller's list of replies: each part's connection puts its replies straight here.
    local out = { n = r[2] }
    r.out = out
    local parts, by = {}, {}
    local prev = -1
    local waiting  -- keyless commands before the first keyed one: they go with it
    for i = 1, n do
        local s = ks[i]
        if s < 0 and prev >= 0 then s = prev end
        if s < 0 then
            waiting = waiting or {}
            waiting[#waiting + 1] = i
        else
            prev = s
            -- Grouped by the node that serves the slot now; an unknown slot goes alone by slot.
            local key = slots[s] or s
            local p = by[key]
            if not p then
                -- request.new's batch layout; its count is set as commands are added.
                p = { "pipeline", 0, cmds = {}, slot = s, idx = {}, part = true, parent = r,
                    out = out }
                by[key] = p
                parts[#parts + 1] = p
            end
            local pc, pi = p.cmds, p.idx
            local k = p[2]
            if waiting then
                -- The keyless commands so far go first, in order, in this one's part.
                for x = 1, #waiting do
                    local pos = waiting[x]
                    k = k + 1
                    pc[k], pi[k] = cmds[pos], pos
                end
                waiting = nil
            end
            k = k + 1
            pc[k], pi[k] = cmds[i], i
            p[2] = k
        end
    end
    if waiting then
        local p = { "pipeline", #waiting, cmds = {}, slot = -1, idx = waiting, part = true,
            parent = r, out = out }
        for x = 1, #waiting do p.cmds[x] = cmds[waiting[x]] end
        parts[#parts + 1] = p
    end
    r.left = #parts
    return parts
end

-- The replies of a pipeline, in the caller's order: each part's, with its redirected commands
-- sent again one at a time. Yields.
function M.await(self, r)
    local out = r.out
    -- Woken once, by the last part done (split's `left`).
    if r.left > 0 then wait(r) end
    for _, p in ipairs(r.parts) do
        self:await(p)  -- raises the part's failure; its replies are in out already
        local idx = p.idx
        for j = 1, #idx do
            local pos = idx[j]
            local x = out[pos]
            if getmetatable(x) == error_mt and self.redirect(x.err) then
                local cmd = p.cmds[j]
                local one = request.new(upper(tostring(cmd[1])), tpack(table.unpack(cmd, 1,
                    cmd.n or #cmd)))
                one.hold_deadline = r.hold_deadline
                local s = keys.slot(self.specs, one.args)
                one.slot, one.ro, one.keep = s >= 0 and s or p.slot, false, one.args
                if self:redirected(one, self.redirect(x.err)) then
                    self:dispatch(one)
                    out[pos] = self:await(one)
                end
            end
        end
    end
    r.done, r.value = true, out
    return out
end

return M
