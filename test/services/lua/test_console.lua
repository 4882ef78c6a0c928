-- config: lua-test-console
-- The debug console driven over TCP, every command with its output checked: a console on a
-- kernel-chosen loopback port, a client socket in this service, and helper services to inspect,
-- call, log, trace, inject into, signal, exit and kill; bad input of each kind answered with an
-- error line on a connection that stays usable. Also the HTTP form, the lua request `run` with
-- and without write, the name .console, the listener-less console ("none"), and the
-- loopback-only rules (the console's, and inject's). The config sets logon_limit_kb = 2.
local skynet = require "skynet"
local socket = require "skynet.socket"
local c = require "skynet.core"
local t = require "tlib"

local conn, chost, cport

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
    chost, cport = skynet.call(console, "lua", "address")
    t.eq(chost, "127.0.0.1", "console host")
    t.ok(cport > 0, "console port")
    conn = assert(socket.open(chost, cport))
    t.ok(socket.readline(conn):find("Welcome to the skyhive debug console", 1, true), "welcome")

    local me = skynet.address(skynet.self())
    local helper = skynet.newservice "helper_console"
    local h = skynet.address(helper)

    local help = expect_ok("help")
    for _, cmd in ipairs { "list", "stat", "mem", "cmem", "jmem", "gc", "kill", "exit", "ping",
        "info", "task", "profile", "netstat", "signal", "log", "start", "call", "uptime", "service", "logon",
        "logoff", "trace", "inject", "quit" } do
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
        "helper_console.lua:14:")
    t.ok(task:find("session %d+: "), "task lists the session: " .. task)
    skynet.call(helper, "lua", "wake")
    expect_ok("task " .. h, "0 coroutine(s)")

    -- profile: the helper computes in hot() while the console samples it; hot() is the first
    -- row. A second profile runs after it (the first let go of its hooks and state).
    local spinning = true
    skynet.fork(function()
        while spinning do skynet.call(helper, "lua", "spin", 20) end
    end)
    local prof = expect_ok("profile " .. h .. " 0.5 5", h .. ": ", " samples, one every 1000 Lua VM",
        "share", "samples  function (source:first line)")
    local share, count, where = prof:match("\n%s*([%d.]+)%% +(%d+)  (%S+)")
    t.ok(where and where:find("helper_console.lua:%d+$"), "profile's first row: " .. prof)
    t.ok(tonumber(share) >= 50, "hot() has most of the samples: " .. prof)
    t.ok(tonumber(count) > 0, "profile counts samples")
    local rows = select(2, prof:gsub("\n%s*[%d.]+%% +%d+  ", ""))
    t.ok(rows >= 1 and rows <= 5, "profile shows at most the rows asked for: " .. prof)
    expect_ok("profile " .. h .. " 0.05", " samples")
    prof = expect_ok("profile " .. h .. " 0.3 3 lines", "line (source:line)")
    t.ok(prof:find("helper_console.lua:%d+\n") or prof:find("helper_console.lua:%d+$"),
        "profile by line names the helper's lines: " .. prof)
    expect_error("profile " .. h .. " 1 5 words", "the fourth word may only be lines")
    spinning = false -- the spinner ends after its current call
    expect_error("profile " .. h .. " 0", "seconds must be more than 0")
    expect_error("profile " .. h .. " 61", "at most 60")
    expect_error("profile " .. h .. " 1 x", "rows must be a whole number")
    expect_error("profile :00000001", "not a Lua service")

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
    expect_ok("uptime", "started ", " UTC", ", up 0d 00:")
    local helper2 = skynet.newservice "helper_console"
    local h2 = skynet.address(helper2)
    skynet.name(".console_helper2", helper2)

    -- start: launches, prints the address; a missing script is an error line.
    local started = expect_ok("start helper_console", "  snlua helper_console")
    local sh = started:match("^(:%x+)  snlua helper_console$")
    t.ok(sh, "start prints the address: " .. started)
    local sth = c.resolve(sh)
    t.eq(c.info(sth).module, "snlua", "started service runs")
    expect_error("start no_such_service_here", "no_such_service_here")
    expect_error("start", "which service")
    expect_ok("ping " .. sh, "time=") -- still usable after the error

    -- call: Lua literals, spaces inside strings and tables, commas allowed; the reply printed.
    expect_ok("call " .. sh .. ' "echo" 1 "a b" {x = 2, y = {z = true}} nil false',
        "1\na b\nx = 2\ny =\n  z = true\nnil\nfalse")
    expect_ok("call " .. sh .. " 'echo', 2.5, 'c'", "2.5\nc")
    expect_ok("call " .. sh .. " 'echo'", "(no values)")
    expect_error("call " .. sh .. " 'echo' {", "argument 2 is not a Lua literal")
    expect_error("call " .. sh .. " 'echo' os.exit(1)", "argument 2 (os.exit(1))",
        "attempt to index a nil value")
    expect_error("call " .. sh .. " 'echo' function()end", "is not plain data")
    expect_error("call " .. sh .. " 'echo' ({1})[#{}+1]() ", "argument 2")
    expect_error("call " .. sh .. " 'echo' ('x'):rep(1e9)", "argument 2", "index a string value")
    expect_error("call " .. sh .. " 'echo' {(function()while true do end end)()}",
        "too much work for a literal")
    expect_error("call .nobody 1", "no service .nobody")
    expect_error("call", "an address is needed")
    local hung = expect_error("call " .. sh .. " 'hang'", "timed out after 2000 ms")
    t.ok(hung:find(sh, 1, true), "the timeout names the service: " .. hung)
    -- Usable after every error above, string methods back in the console after the literals.
    expect_ok("call " .. sh .. " 'echo' 'after'", "after")

    -- service: the unique services from service_mgr.
    local unique = skynet.uniqueservice "helper_console"
    expect_ok("service", "helper_console", skynet.address(unique), "unique service(s)")

    -- logon / logoff: every message to <logpath>/<address>.log, bounded by logon_limit_kb.
    expect_error("logon " .. sh, "set logpath in the config")
    local logdir = os.tmpname()
    os.remove(logdir)
    logdir = logdir .. ".console"
    skynet.setenv("logpath", logdir)
    local logfile = string.format("%s/%08x.log", logdir, sth)
    expect_ok("logon " .. sh, "logging the messages of " .. sh .. " to " .. logfile)
    expect_error("logon " .. sh, "is already logged to " .. logfile)
    expect_error("logon .nobody", "no service .nobody")
    skynet.call(sth, "lua", "echo", "logon-marker")
    local function read_log()
        local f = assert(io.open(logfile, "rb"))
        local text = f:read "a"
        f:close()
        return text
    end
    local function hex(s)
        return (s:gsub(".", function(ch) return string.format("%02x", ch:byte()) end))
    end
    local text = read_log()
    t.ok(text:find("# messages of " .. sh .. " (snlua helper_console)", 1, true),
        "message log header:\n" .. text)
    local line = text:match("\n([^\n]*" .. hex("logon-marker") .. "[^\n]*)")
    t.ok(line and line:find("^%d+%.%d%d " .. me .. " lua %d+ %d+ %x+$"),
        "the call is logged with source, type, session, size: " .. tostring(line))
    expect_ok("logoff " .. sh, "stopped logging " .. sh .. " (" .. logfile .. ")")
    skynet.call(sth, "lua", "echo", "after-logoff")
    t.ok(not read_log():find(hex("after-logoff"), 1, true), "nothing logged after logoff")
    expect_error("logoff " .. sh, sh .. " is not logged")
    -- Past 2 KB the log stops, with a last line, and the service is no longer logged.
    expect_ok("logon " .. sh, "logging")
    for i = 1, 40 do skynet.call(sth, "lua", "echo", string.rep("x", 40), i) end
    text = read_log()
    t.ok(#text <= 2048, "the message log stays within its limit: " .. #text .. " bytes")
    t.ok(text:find("# stopped: the next message would take this file past its limit of 2048 " ..
        "bytes\n$"), "the message log ends saying why:\n" .. text:sub(-200))
    expect_error("logoff " .. sh, "is not logged")
    expect_error("logon " .. sh, "is already at its limit of 2048 bytes", "logon_limit_kb")
    os.remove(logfile)
    os.remove(logdir)

    -- trace: on and off (its log lines are checked by the core's test).
    expect_ok("trace " .. sh .. " on", "trace of " .. sh .. " is on")
    skynet.call(sth, "lua", "echo", "traced")
    expect_ok("trace " .. sh .. " off", "trace of " .. sh .. " is off")
    expect_error("trace " .. sh, "on or off")
    expect_error("trace " .. sh .. " maybe", "on or off")
    expect_error("trace :00000001 on", "the logger cannot be traced")
    expect_error("trace .nobody on", "no service .nobody")

    -- inject: a file run inside the service, its prints and return values shown.
    local chunk = os.tmpname()
    local function write_file(path, body)
        local f = assert(io.open(path, "wb"))
        f:write(body)
        f:close()
    end
    write_file(chunk, 'injected_value = 42\nprint("hello from", skynet.address(skynet.self()))\n' ..
        'return "done", 7\n')
    expect_ok("inject " .. sh .. " " .. chunk, "hello from\t" .. sh, "\ndone\n7")
    expect_ok("call " .. sh .. " 'global' 'injected_value'", "42")
    write_file(chunk, "error('boom in the chunk')\n")
    expect_error("inject " .. sh .. " " .. chunk, "boom in the chunk", "inject into " .. sh ..
        " failed")
    write_file(chunk, "this is not Lua\n")
    expect_error("inject " .. sh .. " " .. chunk, chunk, "syntax error")
    os.remove(chunk)
    expect_error("inject " .. sh .. " " .. chunk, "cannot read " .. chunk, "No such file")
    expect_error("inject " .. sh, "which file")
    expect_error("inject :00000001 " .. chunk, "not a Lua service")
    expect_ok("ping " .. sh, "time=")

    -- The lua request run: read-only unless write = true.
    t.eq(c.query ".console", console, "the console registered .console")
    local out = skynet.call(console, "lua", "run", "list")
    t.ok(out:find(sh .. "  snlua helper_console", 1, true) and out:find("<CMD OK>\n$"),
        "run list: " .. out)
    out = skynet.call(console, "lua", "run", "kill " .. sh)
    t.ok(out:find("kill changes the node: refused", 1, true) and out:find("<CMD Error>\n$"),
        "run kill without write is refused: " .. out)
    t.ok(c.info(sth), "not killed")
    for _, refused in ipairs { "start helper_console", "inject " .. sh .. " x.lua", "log warn",
        "trace " .. sh .. " on", "call " .. sh .. " 'echo'" } do
        out = skynet.call(console, "lua", "run", refused, { write = false })
        t.ok(out:find("refused", 1, true) and out:find("<CMD Error>\n$"), refused .. ": " .. out)
    end
    t.eq(c.loglevel(), before, "log level unchanged by a refused log")
    out = skynet.call(console, "lua", "run", "log")
    t.ok(out:find("log level: " .. before, 1, true), "run log (reading) is allowed: " .. out)
    out = skynet.call(console, "lua", "run", "inject " .. sh .. " x.lua", { write = true,
        remote = true })
    t.ok(out:find("inject runs code inside a service: refused", 1, true), "remote inject: " .. out)
    out = skynet.call(console, "lua", "run", "frobnicate", { write = true })
    t.ok(out:find("unknown command", 1, true) and out:find("<CMD Error>\n$"), out)
    out = skynet.call(console, "lua", "run", "kill " .. sh, { write = true })
    t.ok(out:find("killed " .. sh, 1, true), "run kill with write: " .. out)
    t.eq(c.info(sth), nil, "killed by run")
    t.raises({ "run: the command line must be a string" }, skynet.call, console, "lua", "run", 1)

    -- The HTTP form: one command, answered as HTTP/1.1, read-only, then closed.
    local function http(request)
        local s = assert(socket.open(chost, cport))
        assert(socket.write(s, request))
        local answer = socket.readall(s)
        socket.close(s)
        local status, head, body = answer:match("^HTTP/1%.1 (%d+) [^\r]*\r\n(.-\r\n)\r\n(.*)$")
        t.ok(status, "an HTTP answer: " .. answer)
        t.eq(tonumber(head:match("Content%-Length: (%d+)")), #body, "Content-Length")
        t.ok(head:find("Connection: close", 1, true), "closed after one answer")
        return tonumber(status), body
    end
    local status, body = http("GET /list HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n")
    t.eq(status, 200, "GET /list")
    t.ok(body:find(h2 .. "  snlua helper_console", 1, true) and body:find("<CMD OK>\n$") and
        not body:find("Welcome", 1, true), "GET /list body:\n" .. body)
    status, body = http("GET /info/" .. h2 .. "/everything HTTP/1.0\r\n\r\n")
    t.eq(status, 200, "GET /info/addr/arg")
    t.ok(body:find("what = everything", 1, true), "args after the command: " .. body)
    status, body = http("GET /ping/.console%5fhelper2 HTTP/1.1\r\n\r\n")
    t.eq(status, 200, "a %-escaped argument: " .. body)
    status, body = http("GET /kill/" .. h2 .. " HTTP/1.1\r\n\r\n")
    t.eq(status, 403, "GET /kill is refused: " .. body)
    t.ok(c.info(helper2), "not killed over HTTP")
    status = http("GET /frobnicate HTTP/1.1\r\n\r\n")
    t.eq(status, 404, "unknown command")
    status, body = http("GET /ping/%zz HTTP/1.1\r\n\r\n")
    t.eq(status, 400, "bad escape: " .. body)
    status = http("GET /ping/.nobody HTTP/1.1\r\n\r\n")
    t.eq(status, 400, "bad address")
    status = http("POST /list HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    t.eq(status, 405, "POST")
    status, body = http("GET / HTTP/1.1\r\n\r\n")
    t.ok(status == 200 and body:find("uptime", 1, true), "GET / is help")
    -- A line that only looks like a request line, after the first, is a command (unknown).
    expect_error("GET /list HTTP/1.1", "unknown command \"GET\"")

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
    local chunk2 = os.tmpname()
    assert(socket.write(rc, "inject " .. h2 .. " " .. chunk2 .. "\n"))
    t.ok(socket.readline(rc):find("refused unless the console is on loopback", 1, true),
        "inject is refused on a console that is not on loopback")
    t.eq(socket.readline(rc), "<CMD Error>", "inject refused")
    os.remove(chunk2)
    socket.close(rc)
    t.eq(c.query ".console", console, "the first console keeps .console")

    -- Without a listener: requests only.
    local quiet = skynet.newservice("debug_console", "none")
    t.eq(select("#", skynet.call(quiet, "lua", "address")), 2, "address answers")
    t.eq(skynet.call(quiet, "lua", "address"), nil, "no listener")
    local answer = skynet.call(quiet, "lua", "run", "ping " .. h2)
    t.ok(answer:find(h2 .. " time=", 1, true) and answer:find("<CMD OK>\n$"), answer)
end)
