-- Pipelines of the Redis Cluster client (cluster_router.lua): a pipeline is split into one part
-- per node, each part a batch request sent at once; the replies are merged back in the caller's
-- order, and a command a node redirected is sent again alone (in order, within the pipeline's
-- deadline).
--
-- Thread: the owning service; await yields.
local keys = require "skynet.db.redis.cluster_keys"
local connection = require "skynet.db.redis.connection"
local request = require "skynet.db.redis.request"

local format, tpack, tostring, upper = string.format, table.pack, tostring, string.upper
local is_error = connection.is_error

local M = {}

-- A pipeline becomes one part per node (a request each, `idx` = the positions it carries); a
-- keyless command (WAIT, PING) goes with the command before it, or the first keyed one.
function M.split(self, r)
    local cmds = r.cmds
    local specs, slots = self.specs, self.map.slots
    local n = #cmds
    local sl = {}
    local first_keyed = -1
    for i = 1, n do
        local s, err = keys.slot(specs, cmds[i])
        if not s then error(format("%s: pipeline #%d %s", self.addr, i, err), 0) end
        sl[i] = s
        if first_keyed < 0 and s >= 0 then first_keyed = s end
    end
    local parts, by = {}, {}
    local prev = first_keyed
    for i = 1, n do
        local s = sl[i]
        if s < 0 then s = prev else prev = s end
        -- Grouped by the node that serves the slot now; an unknown slot goes alone by slot.
        local node = s >= 0 and slots[s] or nil
        local key = node or ("slot" .. s)
        local p = by[key]
        if not p then
            -- request.new's batch layout; its count is set once the part is complete.
            p = { "pipeline", 0, cmds = {}, slot = s, idx = {}, part = true }
            by[key] = p
            parts[#parts + 1] = p
        end
        p.cmds[#p.cmds + 1] = cmds[i]
        p.idx[#p.idx + 1] = i
    end
    for _, p in ipairs(parts) do p[2] = #p.cmds end
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
