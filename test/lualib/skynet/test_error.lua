-- Error propagation: what a caller sees when a callee raises, and what launches report.
local skynet = require "skynet"
local t = require "tlib"

t.run(function()
    local echo = skynet.newservice "helper_echo"
    local relay = skynet.newservice "helper_relay"
    local echo_addr, relay_addr = skynet.address(echo), skynet.address(relay)

    -- The callee's error text and address reach the caller; the callee keeps running.
    local err = t.raises({ "call to " .. echo_addr .. " failed", "helper_echo.lua", "kaboom" },
        function() local r = skynet.call(echo, "lua", "raise", "kaboom"); return r end)
    t.ok(err:find("^[^\n]*test_error.lua:%d+: call to"), "the error names the caller's line: " .. err)
    t.eq(skynet.call(echo, "lua", "echo", "alive"), "alive", "callee survives its error")

    -- Two hops: each address appears, innermost text last.
    t.raises({ "call to " .. relay_addr .. " failed", "call to " .. echo_addr .. " failed", "deep" },
        skynet.call, relay, "lua", "relay", echo, "raise", "deep")

    -- A non-string error object is turned into text with tostring.
    t.raises({ "a table error" }, skynet.call, relay, "lua", "raise_table")

    -- An error in a send handler is only logged; the service survives.
    skynet.send(relay, "lua", "fail_in_send")
    t.eq(skynet.call(relay, "lua", "ping"), "pong", "survives a send handler error")

    -- Malformed request bodies fail in the callee's unpack and come back as errors.
    t.raises({ "call to " .. echo_addr .. " failed", "unpack" },
        skynet.rawcall, echo, "lua", "\xcd\x01\x02")

    -- Launch failures: main chunk error, start error, missing script, syntax error.
    t.raises({ "newservice helper_bad_main failed", "main chunk exploded" },
        skynet.newservice, "helper_bad_main")
    t.raises({ "newservice helper_bad_start failed", "start exploded" },
        skynet.newservice, "helper_bad_start")
    t.wait_until(function() return skynet.localname ".bad_start" == nil end, 200,
        "the service whose start failed to exit")
    t.raises({ "cannot find service script 'no_such_service'", "no file" },
        skynet.newservice, "no_such_service")
    t.raises({ "helper_syntax.lua:2:" }, skynet.newservice, "helper_syntax")

    -- Errors of the API itself name what is wrong.
    t.raises({ "unknown protocol" }, skynet.send, echo, "nonsense")
    t.raises({ "can't setenv an existing key" }, skynet.setenv, "thread", "9")
end)
