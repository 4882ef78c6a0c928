-- A service with its own redis.sentinel client, for test_sentinel_one_watcher.lua: "use" KEY
-- connects (once), writes KEY and answers what it reads back.
local skynet = require "skynet"
local lab = require "sentinel_lab"

local db
skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, key)
        assert(cmd == "use", cmd)
        db = db or lab.client()
        db:set(key, skynet.self())
        skynet.ret(skynet.pack(db:get(key)))
    end)
end)
