-- Answers with its launch arguments, SERVICE_NAME and its handle.
local skynet = require "skynet"
local args = table.pack(...)

skynet.start(function()
    skynet.dispatch("lua", function()
        skynet.retpack(SERVICE_NAME, skynet.self(), table.unpack(args, 1, args.n))
    end)
end)
