-- skynet.sharedata: read-mostly tables (game data: items, maps, quests) that every service reads
-- in place. The data lives once in process memory (services/lua/sharedatad.lua builds it with
-- skynet.sharedata.core); a service reads it through proxy tables, so 1,000 services reading a
-- 1 MB table hold proxies, not 1,000 copies.
--
--   sharedata.new(name, value, ...)     [yields] value: a table, Lua source, "@file", or nil
--   sharedata.update(name, value, ...)  [yields] replaces it; readers see the new data on their
--                                       next read
--   sharedata.delete(name)              [yields] readers keep what they have
--   sharedata.query(name) -> proxy      [yields the first time per name] a read-only table
--   sharedata.deepcopy(name, k1, ...)   [yields like query] a plain Lua copy of name[k1][...]
--   sharedata.flush()                   moves every proxy of this service to the newest data now
--
-- A proxy reads like the table (indexing, #, pairs, ipairs); nested tables are proxies too (one
-- per table while it is referenced). Writing raises. After an update, a nested proxy whose key
-- no longer holds a table raises "... doesn't exist after update" when read.
-- Thread: the service that queried the proxies.
local skynet = require "skynet"
local core = require "skynet.sharedata.core"

local type, rawget, rawset, setmetatable, error, tostring = type, rawget, rawset, setmetatable,
    error, tostring
local c_index, c_nextkey, c_len, c_advance = core.index, core.nextkey, core.len, core.advance

-- A proxy's own fields sit under these keys: shared data keys are never tables, so they cannot
-- collide, and pairs never shows them.
local OBJ, BOX, PARENT, KEY, CHILDREN = {}, {}, {}, {}, {}
local weak_values = { __mode = "v" }

local service
local function sharedatad()
    if not service then service = skynet.uniqueservice "sharedatad" end
    return service
end

local sharedata = {}
local roots = setmetatable({}, weak_values)  -- name -> root proxy, while referenced

local meta = {}

local function path_of(p)
    local parts = {}
    while rawget(p, PARENT) do
        table.insert(parts, 1, tostring(rawget(p, KEY)))
        p = rawget(p, PARENT)
    end
    table.insert(parts, 1, tostring(rawget(p, KEY)))
    return table.concat(parts, ".")
end

-- p's table vanished in an update: p and every proxy under it are dead.
local function kill(p)
    rawset(p, OBJ, false)
    local children = rawget(p, CHILDREN)
    if children then
        for _, child in pairs(children) do kill(child) end
    end
end

-- Points the cached proxies under p at the tables of the box's (new) version. False when yet
-- another update landed meanwhile (a read came back stale): the caller moves again.
local function repoint(p, box)
    local children = rawget(p, CHILDREN)
    if not children then return true end
    local obj = rawget(p, OBJ)
    for key, child in pairs(children) do
        local t, stale = c_index(box, obj, key)
        if stale then return false end
        if type(t) == "userdata" then
            rawset(child, OBJ, t)
            if not repoint(child, box) then return false end
        else
            children[key] = nil
            kill(child)
        end
    end
    return true
end

local function move_to_newest(p)
    local root = p
    while rawget(root, PARENT) do root = rawget(root, PARENT) end
    local box = rawget(root, BOX)
    while true do
        local t = c_advance(box)
        if not t then return end
        rawset(root, OBJ, t)
        if repoint(root, box) then return end
    end
end

local function live(p, level)
    local obj = rawget(p, OBJ)
    if not obj then
        error("sharedata: the key [" .. path_of(p) .. "] doesn't exist after update", level + 1)
    end
    return obj
end

function meta.__index(p, key)
    local box = rawget(p, BOX)
    local v, stale = c_index(box, live(p, 2), key)
    while stale do  -- another update may land between moving and reading: loop
        move_to_newest(p)
        v, stale = c_index(box, live(p, 2), key)
    end
    if type(v) ~= "userdata" then return v end
    local children = rawget(p, CHILDREN)
    if not children then
        children = setmetatable({}, weak_values)
        rawset(p, CHILDREN, children)
    end
    local child = children[key]
    if child then return child end
    child = setmetatable({ [OBJ] = v, [BOX] = box, [PARENT] = p, [KEY] = key }, meta)
    children[key] = child
    return child
end

function meta.__newindex(p, key)
    error(string.format("sharedata: [%s] is read-only (writing key %s)", path_of(p), tostring(key)),
        2)
end

function meta.__len(p)
    local box = rawget(p, BOX)
    local n, stale = c_len(box, live(p, 2))
    while stale do
        move_to_newest(p)
        n, stale = c_len(box, live(p, 2))
    end
    return n
end

local function next_of(p, key)
    local box = rawget(p, BOX)
    local k, v, stale = c_nextkey(box, live(p, 2), key)
    while stale do
        move_to_newest(p)
        k, v, stale = c_nextkey(box, live(p, 2), key)
    end
    if type(v) == "userdata" then v = p[k] end
    return k, v
end

function meta.__pairs(p)
    return next_of, p, nil
end

function meta.__tostring(p)
    return "sharedata: " .. path_of(p)
end

function sharedata.query(name)
    local root = roots[name]
    if root then return root end
    local pointer = skynet.call(sharedatad(), "lua", "query", name)
    root = roots[name]
    if root then  -- another coroutine got there first
        core.release(pointer)
        return root
    end
    local box = core.box(pointer)
    root = setmetatable({ [OBJ] = core.root(box), [BOX] = box, [PARENT] = false, [KEY] = name },
        meta)
    roots[name] = root
    return root
end

function sharedata.new(name, value, ...)
    skynet.call(sharedatad(), "lua", "new", name, value, ...)
end

function sharedata.update(name, value, ...)
    skynet.call(sharedatad(), "lua", "update", name, value, ...)
end

function sharedata.delete(name)
    skynet.call(sharedatad(), "lua", "delete", name)
end

function sharedata.flush()
    for _, root in pairs(roots) do move_to_newest(root) end
end

function sharedata.deepcopy(name, ...)
    local p = sharedata.query(name)
    move_to_newest(p)
    for i = 1, select("#", ...) do
        p = p[(select(i, ...))]
        if type(p) ~= "table" then return p end
    end
    return core.copy(rawget(p, BOX), live(p, 2))
end

return sharedata
