-- The .service manager behind skynet.uniqueservice and skynet.queryservice:
--   LAUNCH name args...  -> the handle of the one service called name, launched on first request
--                           (concurrent requests wait for that launch; a launch that raised
--                           answers them all with its error, one whose service exited in its
--                           start function with nil; neither is remembered: the next request
--                           launches again)
--   QUERY name           -> its handle, waiting until someone launches it
--   LIST                 -> {name = handle} of the services launched (the console's `service`)
local skynet = require "skynet"

local services = {}  -- name -> handle
local waiting = {}   -- name -> response closures of requests waiting for it
local launching = {} -- name -> true while its launch runs

local function wait_for(name)
    local list = waiting[name]
    if not list then
        list = {}
        waiting[name] = list
    end
    list[#list + 1] = skynet.response()
end

local function answer(name, ok, value)
    local list = waiting[name]
    waiting[name] = nil
    for _, response in ipairs(list or {}) do response(ok, value) end
end

local CMD = {}

function CMD.LAUNCH(name, ...)
    local handle = services[name]
    if handle then return skynet.retpack(handle) end
    wait_for(name)
    if launching[name] then return end
    launching[name] = true
    local ok, result = pcall(skynet.newservice, name, ...)
    launching[name] = nil
    if ok then services[name] = result end
    answer(name, ok, result)
end

function CMD.QUERY(name)
    local handle = services[name]
    if handle then return skynet.retpack(handle) end
    wait_for(name)
end

function CMD.LIST()
    local list = {}
    for name, handle in pairs(services) do list[name] = handle end
    skynet.retpack(list)
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = CMD[cmd]
        if not f then error("service_mgr: unknown command " .. tostring(cmd)) end
        f(...)
    end)
    skynet.register ".service"
end)
