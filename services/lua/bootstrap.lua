-- The first Lua service (config: bootstrap = "snlua bootstrap"). Starts the launcher and the
-- service manager, then the config's `start` script (default "main"), and exits. A start script
-- that fails to start stops the node with exit code 1.
local skynet = require "skynet"

skynet.start(function()
    local launcher = skynet.newservice "launcher"
    skynet.name(".launcher", launcher)
    skynet.newservice "service_mgr"
    local start = skynet.getenv "start" or "main"
    local ok, err = pcall(skynet.newservice, start)
    if not ok then
        skynet.error("bootstrap: " .. tostring(err))
        skynet.abort(1)
    end
    skynet.exit()
end)
