-- skynet.manager: the service-management half of skynet's API. Adds launch to the skynet table
-- (register, name, kill and abort already live there) and returns it, as skynet's module does.
local skynet = require "skynet"
local c = require "skynet.core"

-- Launches any module ("snlua script args", "logger file", a C module) without waiting for it
-- to start. As in skynet, the arguments are joined with spaces and the first word names the
-- module, so launch("snlua", "echo") and launch("snlua echo") are the same. Returns the handle,
-- or nil and the reason.
function skynet.launch(...)
    local line = table.concat({ ... }, " ")
    local module, args = line:match "^%s*(%S+)%s*(.-)%s*$"
    local handle, err
    if module then
        handle, err = c.launch(module, args)
    else
        err = "no module named"
    end
    if not handle then
        skynet.error(string.format("launch %s failed: %s", line, err))
        return nil, err
    end
    return handle
end

return skynet
