-- Reading the node's metrics in Lua tests (not a test itself): one sample of a family, found by
-- its exact labels, from metrics.collect().
local metrics = require "skynet.metrics"

local M = {}

local function same_labels(a, b)
    a, b = a or {}, b or {}
    for k, v in pairs(a) do
        if b[k] ~= v then return false end
    end
    for k in pairs(b) do
        if a[k] == nil then return false end
    end
    return true
end

-- The sample of family `name` whose labels are exactly `labels` (nil: none), or nil.
function M.sample(name, labels)
    local f = metrics.collect()[name]
    if not f then return nil end
    for _, s in ipairs(f.samples) do
        if same_labels(s.labels, labels) then return s end
    end
end

-- A counter's or gauge's value; 0 when the sample does not exist (yet).
function M.value(name, labels)
    local s = M.sample(name, labels)
    return s and s.value or 0
end

-- A histogram's count and sum; 0, 0 when the sample does not exist (yet).
function M.count(name, labels)
    local s = M.sample(name, labels)
    if not s then return 0, 0 end
    return s.count, s.sum
end

-- The histogram's cumulative count at bucket bound `le`.
function M.bucket(name, labels, le)
    local s = M.sample(name, labels)
    if not s then return 0 end
    for _, b in ipairs(s.buckets) do
        if math.abs(b[1] - le) < 1e-12 then return b[2] end
    end
    error("no bucket " .. le .. " in " .. name)
end

-- Runs `promtool check metrics` (Debian's prometheus package) on the node's exposition: true,
-- or false and promtool's complaints (lint warnings included). Raises when promtool is missing.
function M.promtool()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(metrics.render())
    f:close()
    local p = assert(io.popen("promtool check metrics < " .. path .. " 2>&1"))
    local out = p:read("a")
    local ok, _, code = p:close()
    os.remove(path)
    if code == 127 then error("promtool is not installed (scripts/setup.sh installs it)") end
    return ok == true, out
end

return M
