-- The debug console driven over TCP, every command with its output checked: a console on a
-- kernel-chosen loopback port, a client socket in this service, and helper services to inspect,
-- signal, exit and kill. Also the loopback-only rule and its config override.
local skynet = require "skynet"
local socket = require "skynet.socket"
local c = require "skynet.core"
local t = require "tlib"

local conn

-- Sends one command line; returns its output (without the final marker) and whether it was OK.
local function run(line)
    assert(socket.write(conn, line .. "\r\n"))
    local out = {}
    while true do
        local l = socket.readline(conn)
        t.ok(l, "console output for '" .. line .. "' ended early")
        l = l:gsub("\r$", "")
        if l == "<CMD OK>" or l == "<CMD Error>" then
            return table.concat(out, "\n"), l == "<CMD OK>"
        end
        out[#out + 1] = l
    end
end

local function expect_ok(line, ...)
    local text, ok = run(line)
    t.ok(ok, "'" .. line .. "' failed: " .. text)
    for _, fragment in ipairs { ... } do
        t.ok(text:find(fragment, 1, true), string.format("'%s' output lacks %q:\n%s", line,
            fragment, text))
    end
    return text
end

local function expect_error(line, ...)
    local text, ok = run(line)
    t.ok(not ok, "'" .. line .. "' should have failed: " .. text)
    for _, fragment in ipairs { ... } do
        t.ok(text:find(fragment, 1, true), string.format("'%s' error lacks %q:\n%s", line,
            fragment, text))
    end
    return text
end

t.run(function()
    local console = skynet.newservice("debug_console", "127.0.0.1", 0)
    local chost, cport = skynet.call(console, "lua", "address")
    t.eq(chost, "127.0.0.1", "console host")
    t.ok(cport > 0, "console port")
    conn = assert(socket.open(chost, cport))
    t.ok(socket.readline(conn):find("Welcome to the skyhive debug console", 1, true), "welcome")

    local me = skynet.address(skynet.self())
    local helper = skynet.newservice "helper_console"
    local h = skynet.address(helper)

    local help = expect_ok("help")
    for _, cmd in ipairs { "list", "stat", "mem", "cmem", "jmem", "gc", "kill", "exit", "ping",
        "info", "task", "netstat", "signal", "log", "quit" } do
        t.ok(help:find("\n" .. cmd .. " ", 1, true), "help mentions " .. cmd)
    end

    expect_ok("list", me .. "  snlua test_console", h .. "  snlua helper_console",
        skynet.address(console) .. "  snlua debug_console 127.0.0.1 0")
    -- Blank lines are ignored; extra spaces and CRLF are fine.
    assert(socket.write(conn, "\r\n   \r\n"))
    expect_ok("   list   ", h)

    local stat = expect_ok("stat", "messages", "mqlen")
    local line = stat:match("\n(" .. h:gsub("%p", "%%%0") .. "[^\n]*)")
    t.ok(line and line:find("KB", 1, true) and line:find("helper_console", 1, true),
        "stat line of the helper: " .. tostring(line))

    local mem = expect_ok("mem", h, "KB", "(snlua helper_console)", "total")
    t.ok(not mem:find("logger", 1, true), "mem lists Lua services only")
    expect_ok("cmem", "allocated", "rss", "lua")
    local jmem = expect_ok("jmem")
    t.ok(jmem:find("allocated", 1, true) or jmem:find("not in use", 1, true), "jmem: " .. jmem)
    expect_ok("gc", h, "total")

    expect_ok("ping " .. h, h .. " time=", " ms")
    expect_ok("ping " .. h:sub(2), "time=") -- bare hex
    skynet.name(".console_helper", helper)
    expect_ok("ping .console_helper", h .. " time=")
    expect_error("ping .nobody", "no service .nobody")
    expect_error("ping", "an address is needed")
    expect_error("ping :00000001", "is a logger service, not a Lua service")

    expect_ok("info " .. h, "answer = 42", "what = nothing", "nested =", "  deep = true")
    expect_ok("info " .. h .. " everything", "what = everything")
    expect_ok("info " .. me, "has no info function")

    local task = expect_ok("task " .. h, "1 coroutine(s) waiting in " .. h,
        "helper_console.lua:10:")
    t.ok(task:find("session %d+: "), "task lists the session: " .. task)
    skynet.call(helper, "lua", "wake")
    expect_ok("task " .. h, "0 coroutine(s)")

    expect_ok("netstat", "listener", tostring(cport), skynet.address(console), "tcp", "127.0.0.1:")

    expect_ok("signal " .. h .. " 1", "signal 1 sent to " .. h)
    expect_error("signal " .. h .. " x", "must be an integer")

    local before = c.loglevel()
    expect_ok("log", "log level: " .. before)
    expect_ok("log warn", "log level: warn")
    t.eq(c.loglevel(), "warn", "log level changed")
    expect_error("log loud", "debug, info, warn or error")
    expect_ok("log " .. before, "log level: " .. before)

    -- exit: the service runs skynet.exit; kill: retired at once. Both leave the list.
    local second = skynet.newservice "helper_console"
    local s2 = skynet.address(second)
    expect_ok("exit " .. s2, "exited " .. s2)
    t.eq(c.info(second), nil, "exited service is gone")
    expect_ok("kill " .. h, "killed " .. h)
    t.eq(c.info(helper), nil, "killed service is gone")
    local list = expect_ok("list")
    t.ok(not list:find(h, 1, true) and not list:find(s2, 1, true), "gone from the list")
    expect_error("kill " .. h, "no service " .. h)

    expect_error("frobnicate", "unknown command \"frobnicate\"")

    -- A second client at the same time gets its own session.
    local other = assert(socket.open(chost, cport))
    t.ok(socket.readline(other):find("Welcome", 1, true), "second welcome")
    socket.write(other, "log\n")
    t.ok(socket.readline(other):find("log level:", 1, true), "second client answered")
    t.eq(socket.readline(other), "<CMD OK>", "second client marker")
    socket.close(other)

    -- quit closes the connection.
    socket.write(conn, "quit\n")
    t.eq(socket.read(conn), false, "quit closes the connection")
    socket.close(conn)

    -- Only loopback unless the config allows more.
    t.raises({ "not a loopback address", "debug_console_allow_remote" }, skynet.newservice,
        "debug_console", "0.0.0.0", 0)
    skynet.setenv("debug_console_allow_remote", "true")
    local remote = skynet.newservice("debug_console", "0.0.0.0", 0)
    local rhost, rport = skynet.call(remote, "lua", "address")
    t.eq(rhost, "0.0.0.0", "remote console host")
    local rc = assert(socket.open("127.0.0.1", rport))
    t.ok(socket.readline(rc):find("Welcome", 1, true), "remote console answers")
    socket.close(rc)
end)
