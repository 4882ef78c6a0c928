-- clusterproxy: a local address for a service of another node (cluster.proxy(node, address)).
--
-- skynet.call(proxy, "lua", ...) and skynet.send(proxy, "lua", ...) are forwarded to the link of
-- `node` as if the caller had used cluster.call/cluster.send: the caller's session and source go
-- with the message, so the answer (or the link's error) reaches the caller straight from the link
-- and no coroutine waits here. Thread: this service only.
local skynet = require "skynet"

local clusterd, node, address = ...
clusterd = math.tointeger(tonumber(clusterd))
address = math.tointeger(tonumber(address)) or address

local PTYPE_CLUSTER = 13
local link

skynet.register_protocol { name = "cluster", id = PTYPE_CLUSTER }

skynet.start(function()
    link = skynet.call(clusterd, "lua", "LINK", node)
    skynet.dispatch("lua", function(session, source, ...)
        if session > 0 then skynet.ignoreret() end
        skynet.redirect(link, source, "cluster", session, skynet.packstring(address, ...))
    end)
end)
