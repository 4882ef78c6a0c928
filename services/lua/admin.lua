-- The admin endpoint: HTTP on the address the config's `admin` key names (main.lua starts it
-- with that host and port; port 0 lets the kernel pick), serving
--   GET /metrics          the node's metrics as Prometheus text (skynet.metrics.render)
--   GET /                 the dashboard (services/admin/www/, read once at start)
--   GET /api/state        the dashboard's JSON snapshot (lualib/admin/state.lua)
--   GET /console/cmd/...  one debug console command (the `.console` service's run request)
-- Routes and access rules: lualib/admin/routes.lua. Config keys:
--   admin_allow_remote  a host that is not loopback is refused unless this is true and
--                       admin_token is set (the config check refuses it earlier, naming the line)
--   admin_token         every request for the node's data presents "Authorization: Bearer <t>"
--   admin_write         true: /console may run commands that change the node
-- Logs "admin: listening on host:port" and the dashboard's URL; answers the lua request
-- "address" with host, port.
local skynet = require "skynet"
local server = require "http.server"
local metrics = require "skynet.metrics"
local routes = require "admin.routes"
local state = require "admin.state"

local host, port = ...
host = host or "127.0.0.1"
port = math.tointeger(tonumber(port or 8080))
assert(port and port >= 0 and port <= 65535, "admin: bad port " .. tostring(port))

-- A stuck console must not hold an HTTP request for ever; a profile gets its sampling time on top.
local CONSOLE_TIMEOUT_MS = 5000

local function is_loopback(h)
    return h == "localhost" or h == "::1" or h:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

local function flag(key)
    return skynet.getenv(key) == "true"
end

-- The directory of the dashboard's files: services/admin/www beside services/lua, where this
-- file is, in the source tree as in an installed tree.
local function www_dir()
    local source = debug.getinfo(1, "S").source
    local dir = source:match("^@(.*)/lua/[^/]+$")
    if not dir then error("admin: cannot tell where admin.lua is (source " .. source .. ")") end
    return dir .. "/admin/www/"
end

local FILES = {
    ["/"] = { "index.html", "text/html; charset=utf-8" },
    ["/dashboard.js"] = { "dashboard.js", "text/javascript; charset=utf-8" },
    ["/dashboard.css"] = { "dashboard.css", "text/css; charset=utf-8" },
    ["/favicon.svg"] = { "favicon.svg", "image/svg+xml" },
}

local function load_files()
    local dir, files = www_dir(), {}
    for path, f in pairs(FILES) do
        local file, err = io.open(dir .. f[1], "rb")
        if not file then error("admin: cannot read the dashboard's " .. f[1] .. ": " .. err) end
        files[path] = { type = f[2], body = file:read "a" }
        file:close()
    end
    files["/index.html"] = files["/"]
    return files
end

-- The console runs `inject` only for a client on this machine.
local function console(line, write, req)
    local addr = skynet.localname ".console"
    if not addr then error("no console service (.console) on this node", 0) end
    local peer = (req.peer or ""):match("^%[?(.-)%]?:%d+$") or ""
    local limit = CONSOLE_TIMEOUT_MS + routes.console_wait_ms(line)
    return skynet.calltimeout(limit, addr, "lua", "run", line,
        { write = write, remote = not is_loopback(peer) })
end

skynet.start(function()
    local token = skynet.getenv "admin_token"
    if token == "" then token = nil end
    if not is_loopback(host) then
        if not flag "admin_allow_remote" then
            error(string.format("admin: %s is not a loopback address: set admin_allow_remote = "
                .. "true and an admin_token to serve other machines", host), 0)
        elseif not token then
            error(string.format("admin: %s is not a loopback address: admin_allow_remote needs "
                .. "an admin_token that every request presents", host), 0)
        end
    end
    local write = flag "admin_write"
    local hosts = { localhost = true, ["127.0.0.1"] = true, ["::1"] = true, [host:lower()] = true }
    local handler = routes.new {
        token = token,
        write = write,
        hosts = hosts,
        files = load_files(),
        metrics = metrics.render,
        state = state.new(metrics),
        console = console,
        log = skynet.error,
    }
    local _, bound = server.listen(host, port, handler)
    skynet.error(string.format("admin: listening on %s:%d", host, bound))
    skynet.error(string.format("admin: dashboard at http://%s:%d/ (%s%s)",
        host:find(":", 1, true) and "[" .. host .. "]" or host, bound,
        write and "read-write" or "read-only",
        token and "; requests need the admin_token" or ""))
    skynet.dispatch("lua", function(_, _, cmd)
        if cmd == "address" then
            skynet.retpack(host, bound)
        else
            error("admin: unknown request " .. tostring(cmd))
        end
    end)
end)
