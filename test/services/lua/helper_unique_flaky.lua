-- A unique service that fails its first two launches: the first calls skynet.exit() in its start
-- function, the second raises there (each after a sleep, so that other requests queue behind the
-- launch); the third runs. The service manager must fail each failed launch's requests and
-- launch it again on the next request.
local skynet = require "skynet"

local attempt = skynet.getenv("unique_flaky_1") and (skynet.getenv("unique_flaky_2") and 3 or 2)
    or 1
if attempt < 3 then skynet.setenv("unique_flaky_" .. attempt, "yes") end

skynet.start(function()
    skynet.sleep(2)
    if attempt == 1 then
        skynet.exit()
        return
    end
    if attempt == 2 then error("second launch fails") end
    skynet.dispatch("lua", function() skynet.retpack(skynet.self()) end)
end)
