-- The admin endpoint's routes and access rules, as one request handler for http.server
-- (services/lua/admin.lua wires it to the node; tests drive it with their own sources).
--
-- routes.new(opts) -> handler(req) -> status, body, header. opts:
--   token    nil, or the token every request for the node's data presents as
--            "Authorization: Bearer <token>" (401 otherwise)
--   write    true: /console may run commands that change the node; false: the console refuses
--            them, answered 403
--   files    { [url path] = { type = content type, body = bytes } }: the dashboard's static files
--            (they hold no data of the node, so they are served without the token)
--   metrics  function() -> the Prometheus text of the node
--   state    function() -> the dashboard's snapshot (a table, sent as JSON)
--   console  function(line, write, req) -> the console's output, ending with "<CMD OK>" or
--            "<CMD Error>"; raises when the console cannot be reached
--   hosts    nil, or the set of names (without port) a request's Host header may carry when
--            there is no token, e.g. { ["127.0.0.1"] = true, localhost = true }: a web page
--            that rebinds its own domain to 127.0.0.1 then gets 403, not the node's data
--   log      function(text), for handler failures (optional)
-- The handler yields (metrics, state and console may call other services); http.server runs it
-- in the connection's own coroutine.
--
-- Routes (GET only; 405 for any other method, 404 for any other path):
--   /metrics                    the Prometheus text exposition, format 0.0.4
--   /api/state                  the dashboard's snapshot as JSON
--   /console/cmd[/arg...][?arg] one console command, its output as text: 200 for "<CMD OK>",
--                               403 when the console refused it (it changes the node and write
--                               is off), 404 for an unknown command, 400 for another error, 503
--                               when there is no console (the statuses of the console's own
--                               HTTP form)
--   the static files' paths      the dashboard
-- Cross-site requests from a browser (Sec-Fetch-Site: cross-site or same-site) are refused
-- with 403, so that a web page the operator visits cannot drive the console or read the data.
local json = require "admin.json"

local routes = {}

local format = string.format

-- The status of a console answer, from its last lines: "error: <why>" then "<CMD Error>", where
-- the console (services/lua/debug_console.lua, run) says "... refused ..." for a command it
-- does not allow here and "unknown command ..." for one it does not have.
function routes.console_status(out)
    if out:find("<CMD OK>%s*$") then return 200 end
    local why = out:match("error: ([^\n]*)\n<CMD Error>%s*$")
    if not why then return 400 end
    if why:find("^unknown command") or why:find("^quit: only on a connection") then return 404 end
    if why:find(": refused", 1, true) or why:find(" refused unless ", 1, true) then return 403 end
    return 400
end

local function percent_decode(s, plus_is_space)
    if plus_is_space then s = s:gsub("+", " ") end
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- "/console/info/:0000000a?a%20b" -> "info :0000000a a b", or nil and why.
function routes.console_line(url)
    local path, query = url:match("^([^?#]*)%??([^#]*)")
    local rest = path:match("^/console/(.*)$")
    if not rest or rest == "" then return nil, "no command: /console/<command>[/args...]" end
    local words = {}
    for segment in rest:gmatch("[^/]+") do
        local w = percent_decode(segment, false)
        if w:find("[%c]") then return nil, "a control character in the command" end
        words[#words + 1] = w
    end
    if query ~= "" then
        local q = percent_decode(query, true)
        if q:find("[%c]") then return nil, "a control character in the arguments" end
        words[#words + 1] = q
    end
    if #words == 0 then return nil, "no command: /console/<command>[/args...]" end
    return table.concat(words, " ")
end

-- How long console `line` waits on purpose, in ms, beyond a command's usual answer: `profile
-- addr seconds` samples for its seconds (default 1; the console itself refuses more than 60), so
-- a caller's time limit on the console must grow by that much. 0 for every other command.
function routes.console_wait_ms(line)
    local cmd, _, seconds = line:match("^%s*(%S+)%s*(%S*)%s*(%S*)")
    if cmd ~= "profile" then return 0 end
    seconds = seconds == "" and 1 or tonumber(seconds)
    if not seconds or seconds <= 0 then return 0 end
    return math.floor(math.min(seconds, 60) * 1000 + 0.5)
end

-- Whether `header` carries "Authorization: Bearer <token>" (the scheme in any case).
local function authorized(header, token, equals)
    local value = header["authorization"]
    if type(value) ~= "string" then return false end
    local scheme, given = value:match("^%s*(%S+)%s+(%S+)%s*$")
    if not scheme or scheme:lower() ~= "bearer" then return false end
    return equals(given, token)
end

local function text(status, body, extra)
    local header = { ["content-type"] = "text/plain; charset=utf-8",
        ["cache-control"] = "no-store", ["x-content-type-options"] = "nosniff" }
    for k, v in pairs(extra or {}) do header[k] = v end
    return status, body, header
end

function routes.new(opts)
    assert(type(opts.metrics) == "function", "routes.new: opts.metrics must be a function")
    assert(type(opts.state) == "function", "routes.new: opts.state must be a function")
    assert(type(opts.console) == "function", "routes.new: opts.console must be a function")
    local token = opts.token
    assert(token == nil or (type(token) == "string" and token ~= ""),
        "routes.new: opts.token must be nil or a non-empty string")
    local write = opts.write and true or false
    local files = opts.files or {}
    local log = opts.log or function() end
    local hosts = opts.hosts
    local equals = opts.equals
    if not equals then
        local crypt = require "skynet.crypt"
        -- Digests first: the comparison then takes the same time whatever the lengths.
        equals = function(a, b) return crypt.equals(crypt.sha256(a), crypt.sha256(b)) end
    end

    local dynamic = {}

    dynamic["/metrics"] = function()
        return 200, opts.metrics(), { ["content-type"] = "text/plain; version=0.0.4; charset=utf-8",
            ["cache-control"] = "no-store" }
    end

    dynamic["/api/state"] = function()
        return 200, json.encode(opts.state()), { ["content-type"] = "application/json",
            ["cache-control"] = "no-store" }
    end

    local function console(req)
        local line, why = routes.console_line(req.url)
        if not line then return text(400, why .. "\n") end
        local ok, out = pcall(opts.console, line, write, req)
        if not ok then
            log(format("admin: /console %s: %s", line, tostring(out)))
            return text(503, "the debug console is not available: " .. tostring(out) .. "\n")
        end
        out = tostring(out)
        return text(routes.console_status(out), out)
    end

    return function(req)
        local path = req.path or (req.url or "/"):match("^[^?#]*")
        local header = req.header or {}
        local site = header["sec-fetch-site"]
        if site == "cross-site" or site == "same-site" then
            return text(403, "cross-site requests are refused\n")
        end
        if hosts and not token then
            local host = header["host"]
            host = type(host) == "string" and (host:match("^%[([^%]]+)%]") or
                host:match("^([^:]+)")) or ""
            if not hosts[host:lower()] then
                return text(403, format("host '%s' is not this node's address\n", host))
            end
        end
        local file = files[path]
        local route = dynamic[path]
        local is_console = path:sub(1, 9) == "/console/" or path == "/console"
        if not file and not route and not is_console then
            return text(404, format("no such page: %s\n", path))
        end
        if token and not file and not authorized(header, token, equals) then
            return text(401, "this endpoint needs \"Authorization: Bearer <admin_token>\"\n",
                { ["www-authenticate"] = 'Bearer realm="skyhive admin"' })
        end
        if req.method ~= "GET" then
            return text(405, format("method %s is not allowed here: GET only\n",
                tostring(req.method)), { allow = "GET" })
        end
        if file then
            return 200, file.body, { ["content-type"] = file.type, ["cache-control"] = "no-cache",
                ["x-content-type-options"] = "nosniff",
                ["content-security-policy"] =
                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                ["referrer-policy"] = "no-referrer" }
        end
        if is_console then return console(req) end
        local ok, status, body, h = pcall(route, req)
        if not ok then
            log(format("admin: %s: %s", path, tostring(status)))
            return text(500, format("%s failed: %s\n", path, tostring(status)))
        end
        return status, body, h
    end
end

return routes
