-- The debug console: a line-oriented text interface to the node, for a human on telnet (or a
-- script). Args: [host [port]], default 127.0.0.1 8000 (port 0: the kernel picks). It refuses a
-- host that is not loopback unless the config sets debug_console_allow_remote = true: whoever
-- reaches it can kill services and read their state.
--
-- Each command's output ends with a line "<CMD OK>" or "<CMD Error>" (skynet's convention), so
-- a script can read up to it. `help` lists the commands. The service logs "debug console:
-- listening on host:port" and answers the lua request "address" with host, port.
local skynet = require "skynet"
local socket = require "skynet.socket"
local c = require "skynet.core"
local debugcore = require "skynet.debugcore"

local format, concat = string.format, table.concat

local host, port = ...
host = host or "127.0.0.1"
port = math.tointeger(tonumber(port or 8000))
assert(port and port >= 0 and port <= 65535, "debug console: bad port")

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
    { "netstat", "", "every socket of the node" },
    { "signal", "address [sig]", "signal a service's module (0: break an endless loop)" },
    { "log", "[level]", "show or set the log level: debug, info, warn, error" },
    { "quit", "", "close this connection" },
}

function COMMAND.help(out)
    for _, h in ipairs(HELP) do
        out(format("%-28s %s", h[1] .. (h[2] ~= "" and " " .. h[2] or ""), h[3]))
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

function COMMAND.netstat(out)
    out(format("%-8s %-8s %-10s %-10s %-24s %6s %10s %10s %8s %7s %7s", "id", "type", "state",
        "owner", "address", "port", "read", "write", "wbuffer", "rtime", "wtime"))
    local list = socket.netstat()
    table.sort(list, function(a, b) return a.id < b.id end)
    for _, s in ipairs(list) do
        out(format("%-8d %-8s %-10s %-10s %-24s %6d %10d %10d %8d %7s %7s", s.id, s.type, s.state,
            skynet.address(s.owner), s.address, s.port, s.read, s.write, s.wbuffer,
            s.rtime and (s.rtime .. "ms") or "-", s.wtime and (s.wtime .. "ms") or "-"))
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

----------------------------------------------------------------------------------------------
-- Connections

local function words(line)
    local t = {}
    for w in line:gmatch("%S+") do t[#t + 1] = w end
    return t
end

local lineio = require "skynet.lineio"
local MAX_LINE = 16 * 1024 -- longer command lines are refused, not buffered

local function session(id, addr)
    socket.start(id)
    skynet.error(format("debug console: %s connected", addr))
    socket.write(id, format("Welcome to the skyhive debug console (node %d, service %s). " ..
        "Type help for the commands.\n", skynet.self() >> 24, skynet.address(skynet.self())))
    -- Bounded lines without telnet commands; output stops being produced for a client that
    -- does not read it (lineio). What goes back is printable, tabs and line ends aside.
    local reader = lineio.new(id, { max = MAX_LINE, telnet = true, hold = true, peer = addr })
    while true do
        local line, too_long = reader:read()
        if line == nil then break end
        local argv = line and words(line) or {}
        local cmd = argv[1]
        if cmd == "quit" then break end
        if cmd or too_long then
            local lines = {}
            local function out(text) lines[#lines + 1] = text end
            local f = COMMAND[cmd]
            local ok, err = true, nil
            if too_long then
                ok, err = false, too_long
            elseif f then
                ok, err = pcall(f, out, table.unpack(argv, 2))
            else
                ok, err = false, format("unknown command %q, type help for the commands",
                    cmd:sub(1, 64))
            end
            if not ok then out("error: " .. tostring(err)) end
            out(ok and "<CMD OK>" or "<CMD Error>")
            lines[#lines + 1] = ""
            if not socket.write(id, lineio.printable(concat(lines, "\n"), "\n\t")) then break end
        end
    end
    socket.close(id)
    skynet.error(format("debug console: %s disconnected", addr))
end

skynet.start(function()
    if not is_loopback(host) and skynet.getenv "debug_console_allow_remote" ~= "true" then
        error(format("debug console: refusing to listen on %s:%d, which is not a loopback " ..
            "address (set debug_console_allow_remote = true in the config to allow it)", host, port))
    end
    local listener, _, bound = socket.listen(host, port)
    skynet.error(format("debug console: listening on %s:%d", host, bound))
    socket.start(listener, session)
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd ~= "address" then error("debug console: unknown request " .. tostring(cmd)) end
        skynet.retpack(host, bound)
    end)
end)
