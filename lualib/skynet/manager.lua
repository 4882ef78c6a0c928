-- skynet.manager: the service-management half of skynet's API. Adds launch to the skynet table
-- (register, name, kill and abort already live there) and returns it, as skynet's module does.
local skynet = require "skynet"
local c = require "skynet.core"

-- Launches any module ("snlua script args", "logger file", a C module) without waiting for it
-- to start. Returns the handle, or nil and the reason.
function skynet.launch(module, ...)
    local args = table.concat({ ... }, " ")
    local handle, err = c.launch(module, args)
    if not handle then
        skynet.error(string.format("launch %s %s failed: %s", module, args, err))
        return nil, err
    end
    return handle
end

return skynet
