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

local format, tpack, tostring, upper, type = string.format, table.pack, tostring, string.upper,
    type
local is_error = connection.is_error
local slot_of = codec.slot
local upper_name = keys.upper_name

local M = {}

-- A command's slot (-1: keyless); the single-key commands (GET, SET...) without a call into
-- cluster_keys. Raises the CROSSSLOT error naming the pipeline position.
local function slot_at(self, specs, cmd, i)
    local name = cmd[1]
    local spec = specs[name] or specs[upper_name[name]]
    if spec and spec.single then
        local key = cmd[2]
        local t = type(key)
        if t == "string" or t == "number" then return slot_of(key) end
    end
    local s, err = keys.slot(specs, cmd)
    if not s then error(format("%s: pipeline #%d %s", self.addr, i, err), 0) end
    return s
end

-- A pipeline becomes one part per node (a request each, `idx` = the positions it carries); a
-- keyless command (WAIT, PING) goes with the command before it, or the first keyed one.
function M.split(self, r)
    local cmds = r.cmds
    local specs, slots = self.specs, self.map.slots
    local parts, by = {}, {}
    local prev = -1
    local waiting  -- keyless commands before the first keyed one: they go in its part
    local function add(i, s)
        -- Grouped by the node that serves the slot now; an unknown slot goes alone by slot.
        local key = s >= 0 and slots[s] or ("slot" .. s)
        local p = by[key]
        if not p then
            -- request.new's batch layout; its count is set once the part is complete.
            p = { "pipeline", 0, cmds = {}, slot = s, idx = {}, part = true }
            by[key] = p
            parts[#parts + 1] = p
        end
        local k = p[2] + 1
        p[2] = k
        p.cmds[k] = cmds[i]
        p.idx[k] = i
    end
    for i = 1, #cmds do
        local s = slot_at(self, specs, cmds[i], i)
        if s >= 0 then
            if waiting then
                for _, j in ipairs(waiting) do add(j, s) end
                waiting = nil
            end
            prev = s
            add(i, s)
        elseif prev >= 0 then
            add(i, prev)
        else
            waiting = waiting or {}
            waiting[#waiting + 1] = i
        end
    end
    if waiting then
        for _, j in ipairs(waiting) do add(j, -1) end
    end
    return parts
end

-- The replies of a pipeline, in the caller's order: each part's, with its redirected commands
-- sent again one at a time. Yields.
function M.await(self, r)
    local out = { n = r[2] }
    for _, p in ipairs(r.parts) do
        local v = self:await(p)
        for j, pos in ipairs(p.idx) do
            local x = v[j]
            if is_error(x) and self.redirect(x.err) then
                local cmd = p.cmds[j]
                local one = request.new(upper(tostring(cmd[1])), tpack(table.unpack(cmd, 1,
                    cmd.n or #cmd)))
                one.hold_deadline = r.hold_deadline
                local s = keys.slot(self.specs, one.args)
                one.slot, one.ro, one.keep = s >= 0 and s or p.slot, false, one.args
                if self:redirected(one, self.redirect(x.err)) then
                    self:dispatch(one)
                    x = self:await(one)
                end
            end
            out[pos] = x
        end
    end
    r.done, r.value = true, out
    return out
end

return M
