-- The .launcher service, kept for code written against skynet's launcher. Launching does not go
-- through it (skynet.newservice launches from the calling service); it answers:
--   LAUNCH module args...  -> handle (snlua services wait until started)
--   LIST                   -> { [":0000000a"] = "module args" } for every live service
--   STAT                   -> { [":0000000a"] = { messages, cpu, mqlen, memory } }
--   KILL address           -> true if it was alive
local skynet = require "skynet"
local c = require "skynet.core"

local CMD = {}

function CMD.LAUNCH(module, ...)
    if module == "snlua" then return skynet.newservice(...) end
    local handle, err = c.launch(module, table.concat({ ... }, " "))
    if not handle then error(err) end
    return handle
end

local function each_service(f)
    local result = {}
    for _, handle in ipairs(c.list()) do
        local info = c.info(handle)
        if info then result[skynet.address(handle)] = f(info) end
    end
    return result
end

function CMD.LIST()
    return each_service(function(info)
        return info.args ~= "" and (info.module .. " " .. info.args) or info.module
    end)
end

function CMD.STAT()
    return each_service(function(info)
        return { messages = info.messages, cpu = info.cpu, mqlen = info.mqlen, memory = info.memory }
    end)
end

function CMD.KILL(addr)
    return skynet.kill(addr)
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error("launcher: unknown command " .. tostring(cmd)) end
        skynet.retpack(f(...))
    end)
end)
