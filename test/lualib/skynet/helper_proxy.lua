-- Forwards every "lua" request, untouched, to the service named by its argument: it takes the
-- message's payload (skynet.core.take), redirects it with the caller's source and session, and
-- leaves the answer to the backend.
local skynet = require "skynet"
local c = require "skynet.core"
local backend = tonumber(...)

skynet.start(function()
    skynet.dispatch("lua", function(session, source)
        local msg, sz = c.take()
        skynet.redirect(backend, source, "lua", session, msg, sz)
        skynet.ignoreret()
    end)
end)
