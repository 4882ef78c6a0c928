-- Calls to dead, exiting and killed services end with errors, never hang.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    -- A service that exited: the call fails at once, naming the address.
    local gone = skynet.newservice "helper_echo"
    t.eq(skynet.call(gone, "lua", "exit"), true, "answers before exiting")
    t.raises({ "call to " .. skynet.address(gone) .. " failed: service is dead" },
        skynet.call, gone, "lua", "echo")
    t.eq(skynet.send(gone, "lua", "echo"), false, "send to a dead service")

    -- Killed while handling a request: the pending call gets an error from the release hook.
    local victim = skynet.newservice "helper_echo"
    local outcome
    skynet.fork(function()
        local ok, err = pcall(skynet.call, victim, "lua", "sleep", 100000, "never")
        outcome = ok and "answered" or err
    end)
    skynet.yield()
    t.ok(skynet.kill(victim), "kill a live service")
    t.wait_until(function() return outcome ~= nil end, 500, "the killed call to fail")
    t.ok(outcome:find("was killed before answering", 1, true), outcome)

    -- Exiting while other requests are pending: each pending caller gets an error.
    local busy = skynet.newservice "helper_echo"
    local results = {}
    for i = 1, 3 do
        skynet.fork(function()
            local ok, err = pcall(skynet.call, busy, "lua", "later", 100000, i)
            results[i] = ok and "answered" or err
        end)
    end
    skynet.yield()
    skynet.call(busy, "lua", "exit")
    t.wait_until(function() return #results == 3 end, 500, "pending calls to fail")
    for i = 1, 3 do t.ok(results[i]:find("exited before answering", 1, true), results[i]) end

    -- Requests still queued when a service dies are answered by the node.
    local queued = skynet.newservice "helper_echo"
    local answers = {}
    for i = 1, 5 do
        skynet.fork(function()
            local ok, err = pcall(skynet.call, queued, "lua", "sleep", 5, i)
            answers[i] = ok and "answered" or err
        end)
    end
    skynet.kill(queued)  -- after the current message: the five requests are queued by then
    t.wait_until(function() return #answers == 5 end, 500, "queued calls to fail")
    for i = 1, 5 do t.ok(answers[i]:find("failed", 1, true), answers[i]) end
    t.raises({ "service is dead" }, skynet.call, queued, "lua", "echo")
    t.eq(skynet.kill(queued), false, "kill of a dead service")

    -- Killed during its start function: newservice fails instead of hanging.
    local launch_error
    skynet.fork(function()
        local ok, err = pcall(skynet.newservice, "helper_slow_start")
        launch_error = ok and "started" or err
    end)
    t.wait_until(function() return skynet.localname ".slow_start" ~= nil end, 500, "slow start")
    skynet.kill ".slow_start"
    t.wait_until(function() return launch_error ~= nil end, 500, "newservice to fail")
    t.ok(launch_error:find("killed during its start function", 1, true), launch_error)

    -- Exiting inside start: newservice returns nil, no error (skynet's launcher answers so).
    local h = skynet.newservice("helper_slow_start", "exit")
    t.eq(h, nil, "newservice of a service that exits in its start function")
    t.wait_until(function() return skynet.localname ".slow_start" == nil end, 500, "exit")
end)
