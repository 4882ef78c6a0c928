-- The sharedata service behind lualib/skynet/sharedata.lua: builds each named data set once into
-- process memory (skynet.sharedata.core) and hands readers a reference to it. Launched by the
-- first sharedata call (uniqueservice "sharedatad"). Requests (lua):
--   new name value ...     value: a table, Lua source text, or "@path" of a Lua file (run with
--                          the extra arguments; its result if a table, else the globals it set),
--                          or nil (an empty table). Raises if the name exists.
--   update name value ...  the same, replacing the data (or making it); readers move to the new
--                          version on their next read
--   delete name            readers keep the last version; new queries fail
--   query name -> pointer  a reference for the caller to box (sharedata.lua), or an error
local skynet = require "skynet"
local core = require "skynet.sharedata.core"

local pool = {}  -- name -> box of the current version

local env_meta = { __index = _ENV }

local function build(name, value, ...)
    local kind = type(value)
    if kind == "nil" then
        value = {}
    elseif kind == "string" then
        local env = setmetatable({}, env_meta)
        local chunk, err
        if value:sub(1, 1) == "@" then
            chunk, err = loadfile(value:sub(2), "t", env)
        else
            chunk, err = load(value, "=" .. name, "t", env)
        end
        if not chunk then error("sharedata: " .. name .. ": " .. err, 0) end
        local result = chunk(...)
        setmetatable(env, nil)
        value = type(result) == "table" and result or env
    elseif kind ~= "table" then
        error(string.format("sharedata: %s: a %s cannot be shared (a table, Lua source, " ..
            "\"@file\" or nil)", name, kind), 0)
    end
    local ok, box = pcall(core.new, value)
    if not ok then error(string.format("%s (in %s)", box, name), 0) end
    return box
end

local CMD = {}

function CMD.new(name, ...)
    if pool[name] then
        error(string.format("sharedata.new: %s exists (update replaces it)", tostring(name)), 0)
    end
    pool[name] = build(name, ...)
end

function CMD.update(name, ...)
    local box = build(name, ...)
    local old = pool[name]
    pool[name] = box
    if old then
        core.link(old, box)
        core.close(old)  -- readers still on it hold their own references
    end
end

function CMD.delete(name)
    local old = pool[name]
    if not old then error("sharedata.delete: no data named " .. tostring(name), 0) end
    pool[name] = nil
    core.close(old)
end

function CMD.query(name)
    local box = pool[name]
    if not box then error("sharedata.query: no data named " .. tostring(name), 0) end
    return core.share(box)
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error("sharedatad: unknown command " .. tostring(cmd), 0) end
        skynet.retpack(f(...))
    end)
end)
