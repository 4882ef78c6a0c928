-- skynet.datacenter: values shared by every service of the node, kept by one service
-- (services/lua/datacenterd.lua), addressed by a path of keys. Every function yields (a call).
--   datacenter.set(k1 [, k2 ...], value) -> the value replaced; nil deletes
--   datacenter.get(k1 [, k2 ...])        -> the value (a copy), or nil
--   datacenter.wait(k1 [, k2 ...])       -> the value, waiting until the path has one
local skynet = require "skynet"

local datacenter = {}

local address  -- the datacenterd service, found on first use

local function service()
    if not address then address = skynet.uniqueservice "datacenterd" end
    return address
end

function datacenter.get(...)
    return skynet.call(service(), "lua", "QUERY", ...)
end

function datacenter.set(...)
    return skynet.call(service(), "lua", "UPDATE", ...)
end

function datacenter.wait(...)
    return skynet.call(service(), "lua", "WAIT", ...)
end

return datacenter
