-- The debug console: a line-oriented text interface to the node, for a human on telnet (or a
-- script). Args: [host [port]], default 127.0.0.1 8000 (port 0: the kernel picks), or "none":
-- no listener, only the lua request `run` (what an admin endpoint forwards to). It refuses a
-- host that is not loopback unless the config sets debug_console_allow_remote = true: whoever
-- reaches it can kill services and read their state.
--
-- Each command's output ends with a line "<CMD OK>" or "<CMD Error>" (skynet's convention), so
-- a script can read up to it. `help` lists the commands. A connection whose first line is
-- "GET /<command>[/args] HTTP/1.x" gets that one command's output as an HTTP response (skynet's
-- HTTP form), read-only. The service logs "debug console: listening on host:port", registers
-- the name .console (the first console of the node) and answers the lua requests
--   address            -> host, port (nil without a listener)
--   run line [opts]    -> the output of one command line, "<CMD OK>" or "<CMD Error>" last;
--                         opts.write (default false) allows the commands that change the node,
--                         opts.remote = true refuses inject (the caller's client is not local)
local skynet = require "skynet"
local socket = require "skynet.socket"
local c = require "skynet.core"
local debugcore = require "skynet.debugcore"

local format, concat = string.format, table.concat

local host, port = ...
host = host or "127.0.0.1"
local listening = host ~= "none"
if listening then
    port = math.tointeger(tonumber(port or 8000))
    assert(port and port >= 0 and port <= 65535, "debug console: bad port")
else
    port = nil
end

local TIMEOUT_MS = 2000 -- for requests to other services: a stuck one must not stall the console

local function is_loopback(h)
    return h == "localhost" or h == "::1" or h:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

----------------------------------------------------------------------------------------------
-- Helpers

-- ":0000000a", "0000000a", "a" (hex, this node) or ".name" -> a live handle; raises otherwise.
local function adjust_address(text)
    if not text then error("an address is needed (e.g. :0000000a or .name)", 0) end
    local h
    if text:sub(1, 1) == "." or text:sub(1, 1) == ":" then
        h = c.resolve(text)
    elseif text:match("^%x+$") then
        h = tonumber(text, 16)
        if h <= 0xffffff then h = h | (skynet.self() & 0xff000000) end
    end
    if not h or not c.info(h) then error(format("no service %s", text), 0) end
    return h
end

local function service_name(info)
    return info.args ~= "" and (info.module .. " " .. info.args) or info.module
end

-- A live Lua service, for the commands that go through the debug protocol.
local function lua_service(text)
    local h = adjust_address(text)
    local info = c.info(h)
    if info.module ~= "snlua" then
        error(format("%s is a %s service, not a Lua service", skynet.address(h), info.module), 0)
    end
    return h, info
end

local function debug_call(h, ...)
    return skynet.calltimeout(TIMEOUT_MS, h, "debug", ...)
end

local function each_service(f)
    local list = c.list()
    table.sort(list)
    for _, h in ipairs(list) do
        local info = c.info(h)
        if info then f(h, info) end
    end
end

local function kb(bytes)
    return format("%.2f KB", bytes / 1024)
end

-- Lines "key = value" for a value returned by a service, tables expanded with indentation.
local function dump(out, value, indent)
    indent = indent or ""
    if type(value) ~= "table" then
        out(indent .. tostring(value))
        return
    end
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
        local v = value[k]
        if type(v) == "table" then
            out(format("%s%s =", indent, tostring(k)))
            dump(out, v, indent .. "  ")
        else
            out(format("%s%s = %s", indent, tostring(k), tostring(v)))
        end
    end
end

----------------------------------------------------------------------------------------------
-- Commands: COMMAND[name](out, args...) writes lines with out(text); raising reports an error.

local COMMAND = {}
local HELP = {
    { "help", "", "this list" },
    { "list", "", "services: address, module and arguments" },
    { "stat", "", "services: messages handled, CPU seconds, mailbox length, Lua memory" },
    { "mem", "", "Lua memory of each Lua service" },
    { "cmem", "", "process memory: allocator totals, resident set, Lua total" },
    { "jmem", "", "jemalloc's allocated / active / resident bytes" },
    { "gc", "", "a full Lua collection in every Lua service, then mem" },
    { "kill", "address [force]", "retire a service at once (its pending requests get errors); " ..
        "a critical one only with force" },
    { "exit", "address", "ask a Lua service to exit (skynet.exit)" },
    { "ping", "address", "round trip to a Lua service" },
    { "info", "address [args...]", "what a Lua service's skynet.info_func returns" },
    { "task", "address", "coroutines of a Lua service waiting for a session, with tracebacks" },
    { "profile", "address [seconds] [rows] [lines]", "where a Lua service's Lua runs: its " ..
        "functions (or with `lines`, its lines) by share of VM instructions sampled for seconds " ..
        "(default 1, at most 60), the top rows (default 20)" },
    { "netstat", "", "every socket of the node" },
    { "signal", "address [sig]", "signal a service's module (0: break an endless loop)" },
    { "log", "[level]", "show or set the log level: debug, info, warn, error" },
    { "start", "service [args...]", "launch a Lua service (skynet.newservice), print its address" },
    { "call", "address [lua literals...]", "call a service with the lua protocol, print the " ..
        "reply (2 s timeout)" },
    { "uptime", "", "when the node started and how long it has run" },
    { "service", "", "the unique services (skynet.uniqueservice) and their addresses" },
    { "logon", "address", "write every message of a service to <logpath>/<address>.log" },
    { "logoff", "address", "stop logon" },
    { "trace", "address on|off", "log each message of a service: type, source, session, time" },
    { "inject", "address file.lua", "run a Lua file inside a Lua service (loopback consoles " ..
        "only: it can do anything the service can)" },
    { "quit", "", "close this connection" },
}

function COMMAND.help(out)
    for _, h in ipairs(HELP) do
        out(format("%-31s %s", h[1] .. (h[2] ~= "" and " " .. h[2] or ""), h[3]))
    end
end

function COMMAND.list(out)
    each_service(function(h, info)
        out(format("%s  %s", skynet.address(h), service_name(info)))
    end)
end

function COMMAND.stat(out)
    out(format("%-10s %10s %10s %6s %12s  %s", "address", "messages", "cpu(s)", "mqlen",
        "memory", "service"))
    each_service(function(h, info)
        out(format("%-10s %10d %10.4f %6d %12s  %s", skynet.address(h), info.messages, info.cpu,
            info.mqlen, info.memory and kb(info.memory) or "-", service_name(info)))
    end)
end

function COMMAND.mem(out)
    local total = 0
    each_service(function(h, info)
        if info.memory then
            total = total + info.memory
            out(format("%s  %12s  (%s)", skynet.address(h), kb(info.memory), service_name(info)))
        end
    end)
    out(format("total      %12s", kb(total)))
end

function COMMAND.cmem(out)
    local lua = 0
    each_service(function(_, info) lua = lua + (info.memory or 0) end)
    local a = debugcore.allocator()
    if a then
        out(format("allocated  %14d B  (jemalloc: bytes in use)", a.allocated))
    else
        out "allocated               -  (not running on jemalloc)"
    end
    out(format("rss        %14d B  (resident set of the process)", debugcore.rss()))
    out(format("lua        %14d B  (every Lua service)", lua))
end

function COMMAND.jmem(out)
    local a = debugcore.allocator()
    if not a then
        out "jemalloc is not in use in this process (e.g. a sanitizer build)"
        return
    end
    out(format("allocated  %14d B", a.allocated))
    out(format("active     %14d B", a.active))
    out(format("resident   %14d B", a.resident))
end

function COMMAND.gc(out)
    local me = skynet.self()
    each_service(function(h, info)
        if info.module ~= "snlua" then return end
        if h == me then
            collectgarbage "collect"
        else
            local ok, err = pcall(debug_call, h, "GC")
            if not ok then out(format("%s  gc failed: %s", skynet.address(h), err)) end
        end
    end)
    COMMAND.mem(out)
end

-- Both kill and exit take effect after the service's current message: wait to report it done.
local function wait_gone(h, what)
    local deadline = skynet.now() + TIMEOUT_MS // 10
    while c.info(h) do
        if skynet.now() > deadline then
            error(format("%s is still running %d ms after %s", skynet.address(h), TIMEOUT_MS, what), 0)
        end
        skynet.sleep(1)
    end
end

-- A service the node cannot run without (the game's world, the one that saves at shutdown)
-- marks itself critical by registering the name .critical.<its address in hex>.
local function critical(h)
    return c.resolve(format(".critical.%08x", h)) == h
end

function COMMAND.kill(out, addr, flag)
    local h = adjust_address(addr)
    if flag ~= nil and flag ~= "force" then
        error(format("kill: unknown option %q (only force)", flag), 0)
    end
    if critical(h) and flag ~= "force" then
        error(format("%s is critical: the node cannot play or save without it; " ..
            "kill %s force to kill it anyway", skynet.address(h), addr), 0)
    end
    if not c.kill(h) then error(format("%s is already gone", skynet.address(h)), 0) end
    wait_gone(h, "kill")
    out(format("killed %s", skynet.address(h)))
end

function COMMAND.exit(out, addr)
    local h = lua_service(addr)
    skynet.send(h, "debug", "EXIT")
    wait_gone(h, "exit")
    out(format("exited %s", skynet.address(h)))
end

function COMMAND.ping(out, addr)
    local h = lua_service(addr)
    local start = skynet.hpc()
    debug_call(h, "PING")
    out(format("%s time=%.3f ms", skynet.address(h), (skynet.hpc() - start) / 1e6))
end

function COMMAND.info(out, addr, ...)
    local h = lua_service(addr)
    local r = table.pack(debug_call(h, "INFO", ...))
    if r.n == 0 or (r.n == 1 and r[1] == nil) then
        out(format("%s has no info function (skynet.info_func)", skynet.address(h)))
        return
    end
    for i = 1, r.n do dump(out, r[i]) end
end

function COMMAND.task(out, addr)
    local h = lua_service(addr)
    local tasks = debug_call(h, "TASK")
    local sessions = {}
    for session in pairs(tasks) do sessions[#sessions + 1] = session end
    table.sort(sessions)
    out(format("%d coroutine(s) waiting in %s", #sessions, skynet.address(h)))
    for _, session in ipairs(sessions) do
        out(format("session %d: %s", session, tasks[session]))
    end
end

function COMMAND.profile(out, addr, seconds, rows, by)
    local h = lua_service(addr)
    seconds = tonumber(seconds or 1)
    rows = math.tointeger(tonumber(rows or 20))
    if not seconds or seconds <= 0 or seconds > 60 then
        error("profile: seconds must be more than 0 and at most 60", 0)
    end
    if not rows or rows < 1 then error("profile: rows must be a whole number above 0", 0) end
    if by ~= nil and by ~= "lines" then error("profile: the fourth word may only be lines", 0) end
    local ms = math.max(1, math.floor(seconds * 1000 + 0.5))
    local p = skynet.calltimeout(ms + TIMEOUT_MS, h, "debug", "PROFILE", ms, nil, by == "lines")
    out(format("%s: %d samples, one every %d Lua VM instructions, in %g s (C functions called " ..
        "from Lua are not seen)", skynet.address(h), p.samples, p.period, ms / 1000))
    if p.samples == 0 then return end
    out(format("%7s %9s  %s", "share", "samples",
        p.lines and "line (source:line)" or "function (source:first line)"))
    for i = 1, math.min(rows, #p) do
        local r = p[i]
        out(format("%6.1f%% %9d  %s", 100 * r.count / p.samples, r.count, r.where))
    end
end

function COMMAND.netstat(out)
    out(format("%-8s %-8s %-10s %-10s %-24s %6s %10s %10s %8s %7s %7s %7s", "id", "type",
        "state", "owner", "address", "port", "read", "write", "wbuffer", "rtime", "wtime",
        "nodelay"))
    local list = socket.netstat()
    table.sort(list, function(a, b) return a.id < b.id end)
    for _, s in ipairs(list) do
        local nodelay = "-" -- not a TCP connection
        if s.nodelay ~= nil and s.type == "tcp" then nodelay = s.nodelay and "yes" or "no" end
        out(format("%-8d %-8s %-10s %-10s %-24s %6d %10d %10d %8d %7s %7s %7s", s.id, s.type,
            s.state, skynet.address(s.owner), s.address, s.port, s.read, s.write, s.wbuffer,
            s.rtime and (s.rtime .. "ms") or "-", s.wtime and (s.wtime .. "ms") or "-", nodelay))
    end
end

function COMMAND.signal(out, addr, sig)
    local h = adjust_address(addr)
    local n = math.tointeger(tonumber(sig or 0))
    if not n then error("signal: the signal must be an integer", 0) end
    if not c.signal(h, n) then error(format("%s is already gone", skynet.address(h)), 0) end
    out(format("signal %d sent to %s", n, skynet.address(h)))
end

function COMMAND.log(out, level)
    local ok, current = pcall(c.loglevel, level)
    if not ok then error("log: the level must be debug, info, warn or error", 0) end
    out("log level: " .. current)
end

function COMMAND.start(out, name, ...)
    if not name then error("start: which service? (e.g. start echo 127.0.0.1 0)", 0) end
    local h = skynet.newservice(name, ...)
    local info = c.info(h)
    out(format("%s  %s", skynet.address(h), info and service_name(info) or name))
end

-- call's arguments: Lua literals separated by spaces or commas ("hello" 1 {a = 2} nil true).
-- Quotes and brackets group, so a string or a table may hold spaces.
local function split_literals(text)
    local list, i, n = {}, 1, #text
    while true do
        i = text:find("[^%s,]", i)
        if not i then return list end
        local j, depth, quote = i, 0, nil
        while j <= n do
            local ch = text:sub(j, j)
            if quote then
                if ch == "\\" then
                    j = j + 1
                elseif ch == quote then
                    quote = nil
                end
            elseif ch == '"' or ch == "'" then
                quote = ch
            elseif ch == "{" or ch == "(" or ch == "[" then
                depth = depth + 1
            elseif ch == "}" or ch == ")" or ch == "]" then
                depth = depth - 1
            elseif depth <= 0 and ch:match("[%s,]") then
                break
            end
            j = j + 1
        end
        list[#list + 1] = text:sub(i, j - 1)
        i = j
    end
end

local function plain(value, depth)
    local t = type(value)
    if t == "table" then
        if depth > 16 then return false end
        for k, v in pairs(value) do
            if not plain(k, depth + 1) or not plain(v, depth + 1) then return false end
        end
        return true
    end
    return t == "nil" or t == "boolean" or t == "number" or t == "string"
end

-- Evaluates one literal with no globals, no string methods and a bound on the work, so that no
-- text typed on the console runs code here ("x"):rep(1e9) included.
local string_meta = getmetatable ""
local function literal(text, i)
    local f, err = load("return " .. text, "=argument " .. i, "t", {})
    if not f then error(format("call: argument %d is not a Lua literal: %s", i, err), 0) end
    local co = coroutine.create(f)
    debug.sethook(co, function() error("too much work for a literal", 0) end, "", 10000)
    -- The literal cannot yield, so no other coroutine of this service runs meanwhile.
    local methods = string_meta.__index
    string_meta.__index = nil
    local ok, value = coroutine.resume(co)
    string_meta.__index = methods
    if not ok then error(format("call: argument %d (%s): %s", i, text, tostring(value)), 0) end
    if not plain(value, 0) then
        error(format("call: argument %d (%s) is not plain data (nil, boolean, number, string " ..
            "or table)", i, text), 0)
    end
    return value
end

-- call address args...: `rest` is the text after the address, parsed here (not split in words).
function COMMAND.call(out, addr, rest)
    local h = adjust_address(addr)
    local args = { n = 0 }
    for i, text in ipairs(split_literals(rest or "")) do
        args[i], args.n = literal(text, i), i
    end
    local r = table.pack(skynet.calltimeout(TIMEOUT_MS, h, "lua", table.unpack(args, 1, args.n)))
    if r.n == 0 then out "(no values)" end
    for i = 1, r.n do dump(out, r[i]) end
end

function COMMAND.uptime(out)
    local start = skynet.starttime()
    local cs = skynet.now()
    local s = cs // 100
    out(format("started %s (%d), up %dd %02d:%02d:%02d (%d.%02d s)",
        os.date("!%Y-%m-%d %H:%M:%S UTC", start), start, s // 86400, s // 3600 % 24, s // 60 % 60,
        s % 60, s, cs % 100))
end

function COMMAND.service(out)
    local list = skynet.calltimeout(TIMEOUT_MS, ".service", "lua", "LIST")
    local names = {}
    for name in pairs(list) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
        out(format("%-24s %s", name, skynet.address(list[name])))
    end
    out(format("%d unique service(s)", #names))
end

function COMMAND.logon(out, addr)
    local h = adjust_address(addr)
    local path, err = c.logon(h)
    if not path then error("logon: " .. err, 0) end
    out(format("logging the messages of %s to %s", skynet.address(h), path))
end

function COMMAND.logoff(out, addr)
    local h = adjust_address(addr)
    local path, err = c.logoff(h)
    if not path then error("logoff: " .. err, 0) end
    out(format("stopped logging %s (%s)", skynet.address(h), path))
end

function COMMAND.trace(out, addr, switch)
    local h = adjust_address(addr)
    if switch ~= "on" and switch ~= "off" then error("trace: on or off after the address", 0) end
    local state, err = c.trace(h, switch == "on")
    if not state then error("trace: " .. err, 0) end
    out(format("trace of %s is %s%s", skynet.address(h), state,
        state == "on" and " (a log line per message, at level info)" or ""))
end

function COMMAND.inject(out, addr, file)
    local h = lua_service(addr)
    if not file then error("inject: which file? (inject address file.lua)", 0) end
    local f, err = io.open(file, "rb")
    if not f then error("inject: cannot read " .. err, 0) end
    local source = f:read "a"
    f:close()
    if not source then error("inject: cannot read " .. file, 0) end
    local ok, output = debug_call(h, "RUN", source, file)
    for text in output:gmatch("[^\n]+") do out(text) end
    if not ok then error(format("inject into %s failed", skynet.address(h)), 0) end
end

----------------------------------------------------------------------------------------------
-- Running a command line

-- Commands that change the node's state: refused unless the caller may write. `log` with a
-- level is one too (checked in run).
local WRITES = {
    start = true, call = true, kill = true, exit = true, gc = true, signal = true, logon = true,
    logoff = true, trace = true, inject = true,
}

local function words(line)
    local t = {}
    for w in line:gmatch("%S+") do t[#t + 1] = w end
    return t
end

-- Runs one command line. ctx.write: the state-changing commands are allowed; ctx.loopback:
-- inject is allowed. Returns the output lines, the marker last, and the outcome: "ok", "error",
-- "unknown" (no such command) or "refused" (not allowed here).
local function run(line, ctx)
    local lines = {}
    local function out(text) lines[#lines + 1] = text end
    local argv = words(line)
    local cmd = argv[1]
    local f = COMMAND[cmd]
    local outcome, err = "ok", nil
    if not f then
        outcome = "unknown"
        err = cmd == "quit" and "quit: only on a connection"
            or format("unknown command %q, type help for the commands", tostring(cmd):sub(1, 64))
    elseif (WRITES[cmd] or (cmd == "log" and argv[2])) and not ctx.write then
        outcome = "refused"
        err = format("%s changes the node: refused on this read-only console (the HTTP form, " ..
            "or run without write = true)", cmd)
    elseif cmd == "inject" and not ctx.loopback then
        outcome = "refused"
        err = "inject runs code inside a service: refused unless the console is on loopback " ..
            "and its client local"
    else
        local ok
        if cmd == "call" then
            local addr, rest = line:match("^%s*%S+%s+(%S+)%s*(.-)%s*$")
            ok, err = pcall(f, out, addr, rest)
        else
            ok, err = pcall(f, out, table.unpack(argv, 2))
        end
        if not ok then outcome = "error" end
    end
    if outcome ~= "ok" then out("error: " .. tostring(err)) end
    out(outcome == "ok" and "<CMD OK>" or "<CMD Error>")
    return lines, outcome
end

----------------------------------------------------------------------------------------------
-- Connections

local lineio = require "skynet.lineio"
local MAX_LINE = 16 * 1024 -- longer command lines are refused, not buffered
local MAX_HEADERS = 64     -- header lines of the HTTP form
-- The welcome goes out after this long without a line from the client, or before the first
-- answer: a client of the HTTP form sends its request at once and gets no welcome in its answer.
local WELCOME_DELAY_CS = 50

local REASON = { [200] = "OK", [400] = "Bad Request", [403] = "Forbidden", [404] = "Not Found",
    [405] = "Method Not Allowed", [431] = "Request Header Fields Too Large" }
local STATUS = { ok = 200, error = 400, refused = 403, unknown = 404 }

local function http_answer(id, status, body)
    socket.write(id, format("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n" ..
        "Content-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n%s", status,
        REASON[status], #body, body))
end

-- "/stat" -> "stat", "/call/.x/%22a%20b%22" -> 'call .x "a b"'; nil for a bad %-escape.
local function http_command(target)
    local path = target:match("^[^?#]*")
    local parts = {}
    for segment in path:gmatch("[^/]+") do
        if segment:find("%%%X") or segment:find("%%.%X") or segment:find("%%.?$") then
            return nil
        end
        parts[#parts + 1] = segment:gsub("%%(%x%x)", function(x)
            return string.char(tonumber(x, 16))
        end)
    end
    return #parts > 0 and concat(parts, " ") or "help"
end

-- Skynet's HTTP form: one request, one command (read-only), one answer, then the connection
-- closes. `method` and `target` come from the request line already read.
local function serve_http(id, reader, method, target)
    for i = 1, MAX_HEADERS + 1 do
        local header = reader:read()
        if header == nil then return end -- gone before the end of its header
        if header == "" then break end
        if i > MAX_HEADERS or header == false then
            http_answer(id, 431, "error: request header too large\n<CMD Error>\n")
            return
        end
    end
    if method ~= "GET" then
        http_answer(id, 405, "error: only GET /<command>[/args]\n<CMD Error>\n")
        return
    end
    local line = http_command(target)
    if not line then
        http_answer(id, 400, "error: bad %-escape in " .. target:sub(1, 256) .. "\n<CMD Error>\n")
        return
    end
    local lines, outcome = run(line, { write = false, loopback = false })
    lines[#lines + 1] = ""
    http_answer(id, STATUS[outcome], lineio.printable(concat(lines, "\n"), "\n\t"))
end

local function session(id, addr)
    socket.start(id)
    skynet.error(format("debug console: %s connected", addr))
    local closed, greeted, first = false, false, true
    local function welcome()
        if greeted or closed then return end
        greeted = true
        socket.write(id, format("Welcome to the skyhive debug console (node %d, service %s). " ..
            "Type help for the commands.\n", skynet.self() >> 24, skynet.address(skynet.self())))
    end
    skynet.timeout(WELCOME_DELAY_CS, function() if first then welcome() end end)
    local ctx = { write = true, loopback = is_loopback(host) }
    -- Bounded lines without telnet commands; output stops being produced for a client that
    -- does not read it (lineio). What goes back is printable, tabs and line ends aside.
    local reader = lineio.new(id, { max = MAX_LINE, telnet = true, hold = true, peer = addr })
    while true do
        local line, too_long = reader:read()
        if line == nil then break end
        local method, target = nil, nil
        if first and line then method, target = line:match("^(%u+) (%S+) HTTP/1%.[01]$") end
        first = false
        if method then
            serve_http(id, reader, method, target)
            break
        end
        local argv = line and words(line) or {}
        if argv[1] == "quit" then break end
        if argv[1] or too_long then
            welcome()
            local lines
            if too_long then
                lines = { "error: " .. too_long, "<CMD Error>" }
            else
                lines = run(line, ctx)
            end
            lines[#lines + 1] = ""
            if not socket.write(id, lineio.printable(concat(lines, "\n"), "\n\t")) then break end
        end
    end
    closed = true
    socket.close(id)
    skynet.error(format("debug console: %s disconnected", addr))
end

local REQUEST = {}

function REQUEST.address()
    return listening and host or nil, port
end

-- run(line, opts) -> the command's output, as a connection would get it.
function REQUEST.run(line, opts)
    if type(line) ~= "string" then
        error("debug console: run: the command line must be a string, got " .. type(line))
    end
    if opts ~= nil and type(opts) ~= "table" then
        error("debug console: run: opts must be a table ({write = bool}), got " .. type(opts))
    end
    opts = opts or {}
    local lines = run(line, { write = opts.write == true, loopback = opts.remote ~= true })
    lines[#lines + 1] = ""
    return concat(lines, "\n")
end

skynet.start(function()
    if listening then
        if not is_loopback(host) and skynet.getenv "debug_console_allow_remote" ~= "true" then
            error(format("debug console: refusing to listen on %s:%d, which is not a loopback " ..
                "address (set debug_console_allow_remote = true in the config to allow it)", host,
                port))
        end
        local listener, _, bound = socket.listen(host, port)
        port = bound
        skynet.error(format("debug console: listening on %s:%d", host, bound))
        socket.start(listener, session)
    else
        skynet.error "debug console: no listener (requests only)"
    end
    -- The node's console for other services (an admin endpoint): the first one started.
    if not c.query ".console" then pcall(skynet.register, ".console") end
    skynet.dispatch("lua", function(_, _, cmd, ...)
        local f = REQUEST[cmd]
        if not f then error("debug console: unknown request " .. tostring(cmd)) end
        skynet.retpack(f(...))
    end)
end)
