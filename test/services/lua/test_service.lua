-- newservice, uniqueservice, queryservice, skynet.launch and the .launcher service.
local skynet = require "skynet"
require "skynet.manager"
local t = require "tlib"

t.run(function()
    -- Arguments reach the main chunk as strings, SERVICE_NAME is the script name.
    local h = skynet.newservice("helper_args", "a", 2, "three")
    local r = table.pack(skynet.call(h, "lua"))
    t.eq(r.n, 5, "answer size")
    t.eq(r[1], "helper_args", "SERVICE_NAME")
    t.eq(r[2], h, "self is the launched handle")
    t.eq(r[3] .. r[4] .. r[5], "a2three", "arguments")

    -- uniqueservice: one launch however many ask at once; queryservice waits for it.
    local got = {}
    local queried
    skynet.fork(function() queried = skynet.queryservice "helper_unique" end)
    for i = 1, 10 do
        skynet.fork(function() got[i] = skynet.uniqueservice "helper_unique" end)
    end
    t.wait_until(function() return #got == 10 and queried end, 500, "unique services")
    for i = 2, 10 do t.eq(got[i], got[1], "uniqueservice " .. i) end
    t.eq(queried, got[1], "queryservice")
    t.eq(skynet.call(got[1], "lua"), got[1], "the unique service answers")
    t.eq(skynet.uniqueservice "helper_unique", got[1], "uniqueservice later")
    t.eq(skynet.uniqueservice(true, "helper_unique"), got[1], "global flag is accepted")
    t.raises({ "newservice no_such_unique failed" }, skynet.uniqueservice, "no_such_unique")

    -- A unique service that exits in its start function: as in skynet, the request that
    -- launched it and every request that waited for the launch (uniqueservice or queryservice)
    -- fail, and nothing is remembered: the next request launches it again. A launch that raised
    -- fails its requests the same way and (unlike skynet, see docs) is tried again too.
    local function requests(expect)
        local failed = {}
        local function try(f)
            local ok, err = pcall(f, "helper_unique_flaky")
            failed[#failed + 1] = not ok and err or ("returned " .. tostring(err))
        end
        for _ = 1, 3 do skynet.fork(try, skynet.uniqueservice) end
        skynet.fork(try, skynet.queryservice)
        t.wait_until(function() return #failed == 4 end, 500, "the requests of a failed launch")
        for i = 1, 4 do t.ok(tostring(failed[i]):find(expect, 1, true), failed[i]) end
    end
    requests("helper_unique_flaky: the service exited in its start function")
    requests("second launch fails")
    local again = skynet.uniqueservice "helper_unique_flaky"
    t.eq(skynet.call(again, "lua"), again, "the next uniqueservice launched it again")
    t.eq(skynet.uniqueservice "helper_unique_flaky", again, "and keeps that one")
    t.eq(skynet.queryservice "helper_unique_flaky", again, "queryservice finds it")

    -- Many services launched at once from forks: distinct, all started, all answering.
    local handles, seen = {}, {}
    for i = 1, 200 do
        skynet.fork(function() handles[i] = skynet.newservice("helper_args", i) end)
    end
    t.wait_until(function() return #handles == 200 end, 1000, "200 launches")
    for i = 1, 200 do
        t.ok(not seen[handles[i]], "distinct handle")
        seen[handles[i]] = true
        local _, _, arg = skynet.call(handles[i], "lua")
        t.eq(arg, tostring(i), "argument of service " .. i)
        t.ok(skynet.kill(handles[i]), "kill")
    end

    -- skynet.launch (skynet.manager) starts any module without waiting.
    local direct = skynet.launch("snlua", "helper_echo")
    t.eq(skynet.call(direct, "lua", "echo", "direct"), "direct", "launched with skynet.launch")
    local bad, err = skynet.launch("no_such_module")
    t.eq(bad, nil, "launch of an unknown module")
    t.ok(err:find("no_such_module", 1, true), err)

    -- The .launcher service: LAUNCH, LIST, STAT, KILL.
    local via = skynet.call(".launcher", "lua", "LAUNCH", "snlua", "helper_echo")
    t.eq(skynet.call(via, "lua", "echo", 1), 1, "launched by .launcher")
    local list = skynet.call(".launcher", "lua", "LIST")
    t.eq(list[skynet.address(via)], "snlua helper_echo", "LIST")
    local stat = skynet.call(".launcher", "lua", "STAT")
    t.ok(stat[skynet.address(via)].messages >= 1, "STAT messages")
    t.ok(stat[skynet.address(via)].memory > 0, "STAT memory")
    t.eq(skynet.call(".launcher", "lua", "KILL", via), true, "KILL")
    t.raises({ "dead" }, skynet.call, via, "lua", "echo", 1)
end)
