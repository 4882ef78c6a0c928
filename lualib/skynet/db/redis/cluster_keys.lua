-- The keys of a command, for the Redis Cluster client: which slot a command, a transaction or a
-- script call goes to, checked before anything is sent.
--
-- The key positions come from the server's COMMAND reply (first key, last key, step, fetched
-- once per client), and from the hand-written rules below for the commands whose keys move with
-- their arguments (numkeys, STREAMS, STORE...). A command with no key (PING, INFO, SCRIPT LOAD)
-- has the slot -1: the router sends it to any master.
--
-- Arguments are given as a list {name, arg1, arg2, ...} (`n` optional), the name in any case.
--
-- Thread: the owning service; nothing here yields.
local codec = require "skyhive.redis.codec"

local format, upper, type, tonumber, tostring = string.format, string.upper, type, tonumber,
    tostring
local slot_of = codec.slot

local M = {}

-- A command's key rule: first, last, step (COMMAND's numbers: 1 = the first argument after the
-- name, a negative last counts from the end), readonly, and rule = a function(args, n, out) that
-- appends the argument indexes of the keys (for the movable-keys commands).
local function numkeys_at(pos)
    return function(a, n, out)
        local k = tonumber(a[pos]) or 0
        for i = pos + 1, math.min(n, pos + k) do out[#out + 1] = i end
    end
end

local function streams(a, n, out)
    for i = 2, n do
        local w = a[i]
        if type(w) == "string" and upper(w) == "STREAMS" then
            local rest = n - i
            for j = i + 1, i + rest // 2 do out[#out + 1] = j end
            return
        end
    end
end

-- The first argument, plus the one after each of the given options (STORE, STOREDIST).
local function key_and_options(...)
    local opts = {}
    for _, o in ipairs { ... } do opts[o] = true end
    return function(a, n, out)
        if n >= 2 then out[#out + 1] = 2 end
        for i = 3, n - 1 do
            local w = a[i]
            if type(w) == "string" and opts[upper(w)] then out[#out + 1] = i + 1 end
        end
    end
end

-- MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH..] [KEYS key...]
local function migrate(a, n, out)
    if a[4] ~= "" then
        out[#out + 1] = 4
        return
    end
    for i = 7, n do
        local w = a[i]
        if type(w) == "string" and upper(w) == "KEYS" then
            for j = i + 1, n do out[#out + 1] = j end
            return
        end
    end
end

local rules = {
    EVAL = numkeys_at(3), EVALSHA = numkeys_at(3), EVAL_RO = numkeys_at(3),
    EVALSHA_RO = numkeys_at(3), FCALL = numkeys_at(3), FCALL_RO = numkeys_at(3),
    SINTERCARD = numkeys_at(2), ZINTERCARD = numkeys_at(2), LMPOP = numkeys_at(2),
    ZMPOP = numkeys_at(2), BLMPOP = numkeys_at(3), BZMPOP = numkeys_at(3),
    ZUNION = numkeys_at(2), ZINTER = numkeys_at(2), ZDIFF = numkeys_at(2),
    XREAD = streams, XREADGROUP = streams, MIGRATE = migrate,
    SORT = key_and_options("STORE"), SORT_RO = key_and_options("STORE"),
    GEORADIUS = key_and_options("STORE", "STOREDIST"),
    GEORADIUSBYMEMBER = key_and_options("STORE", "STOREDIST"),
}
-- ZUNIONSTORE dest numkeys key...: the destination and the keys.
for _, name in ipairs { "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE" } do
    rules[name] = function(a, n, out)
        if n >= 2 then out[#out + 1] = 2 end
        numkeys_at(3)(a, n, out)
    end
end

local function has_flag(flags, name)
    if type(flags) ~= "table" then return false end
    for i = 1, #flags do
        if flags[i] == name then return true end
    end
    return false
end

local function spec_of(entry)
    local name = upper(tostring(entry[1]))
    local first, last, step = tonumber(entry[4]) or 0, tonumber(entry[5]) or 0,
        tonumber(entry[6]) or 0
    return name, {
        first = first, last = last, step = step,
        readonly = has_flag(entry[3], "readonly"),
        -- The hot path: exactly the first argument is the key (GET, SET, INCR...). Some
        -- movable-keys commands say so too (ZUNIONSTORE: its destination); their rule decides.
        single = first == 1 and last == 1 and step == 1 and not rules[name],
        rule = rules[name],
    }
end

-- new(command_reply) -> the key rules of this server's commands, from COMMAND's reply; its
-- subcommands (OBJECT ENCODING, XINFO STREAM...) under "NAME|SUB".
function M.new(reply)
    local specs = {}
    for i = 1, #reply do
        local entry = reply[i]
        if type(entry) == "table" and entry[1] then
            local name, spec = spec_of(entry)
            specs[name] = spec
            local subs = entry[10]
            if type(subs) == "table" then
                for j = 1, #subs do
                    if type(subs[j]) == "table" then
                        local sub, sspec = spec_of(subs[j])
                        specs[sub] = sspec
                        spec.subs = true
                    end
                end
            end
        end
    end
    return specs
end

-- A name as written -> upper case, memoized: pipelines look every name up.
local upper_name = setmetatable({}, { __index = function(t, k)
    local v = upper(k)
    t[k] = v
    return v
end })
M.upper_name = upper_name

-- The spec of a command given its words (a container command's subcommand when it has one).
local function find(specs, a)
    local name = a[1]
    local spec = specs[name]
    if not spec and type(name) == "string" then spec = specs[upper_name[name]] end
    if spec and spec.subs and type(a[2]) == "string" then
        local sub = specs[upper(name) .. "|" .. upper(a[2])]
        if sub then return sub end
    end
    return spec
end
M.find = find

local scratch = {}

-- The words as sent: a table argument is spliced in its place (db:del({"a", "b"})).
local function flatten(a, n)
    for i = 2, n do
        if type(a[i]) == "table" then
            local f = { a[1] }
            for j = 2, n do
                local x = a[j]
                if type(x) == "table" then
                    for k = 1, #x do f[#f + 1] = x[k] end
                else
                    f[#f + 1] = x
                end
            end
            return f, #f
        end
    end
    return a, n
end

-- slot(specs, a, n) -> slot (0..16383, or -1 for a keyless command), readonly; or nil and the
-- CROSSSLOT text (without the client's prefix) when its keys hash to different slots.
function M.slot(specs, a, n)
    a, n = flatten(a, n or a.n or #a)
    local spec = find(specs, a)
    if not spec then return -1, false end
    if spec.single then
        if n < 2 then return -1, spec.readonly end
        return slot_of(a[2]), spec.readonly
    end
    local idx = scratch
    local count = 0
    if spec.rule then
        spec.rule(a, n, idx)
        count = #idx
    elseif spec.first > 0 then
        local last = spec.last
        if last < 0 then last = n - 1 + last + 1 end
        local step = spec.step > 0 and spec.step or 1
        for i = spec.first, math.min(last, n - 1), step do
            count = count + 1
            idx[count] = i + 1
        end
    end
    local slot = -1
    local bad = false
    for i = 1, count do
        local s = slot_of(a[idx[i]])
        if slot == -1 then
            slot = s
        elseif s ~= slot then
            bad = true
        end
    end
    if bad then
        local parts = {}
        for i = 1, count do
            local k = a[idx[i]]
            parts[i] = format("%q slot %d", tostring(k), slot_of(k))
        end
        for i = 1, count do idx[i] = nil end
        return nil, format("%s: keys in different slots (CROSSSLOT): %s", upper(a[1]),
            table.concat(parts, ", "))
    end
    for i = 1, count do idx[i] = nil end
    return slot, spec.readonly
end

-- The slot of a batch whose commands must share one (a transaction: MULTI and EXEC are keyless),
-- or nil and the CROSSSLOT text naming every keyed command's slot.
function M.batch_slot(specs, cmds, what)
    local slot = -1
    local seen = {}
    for i = 1, #cmds do
        local s, err = M.slot(specs, cmds[i])
        if not s then return nil, format("%s: %s", what, err) end
        if s ~= -1 then
            seen[#seen + 1] = i
            if slot == -1 then
                slot = s
            elseif s ~= slot then
                slot = false
            end
        end
    end
    if slot == false then
        local parts = {}
        for _, i in ipairs(seen) do
            local c = cmds[i]
            parts[#parts + 1] = format("%s %q slot %d", upper(c[1]), tostring(c[2]),
                (M.slot(specs, c)))
        end
        return nil, format("%s: keys in different slots (CROSSSLOT): %s", what,
            table.concat(parts, ", "))
    end
    return slot
end

return M
