-- lualib/admin/routes.lua served by http.server over real sockets, with sources of its own in
-- place of the node's metrics and console (the service's real wiring is test_admin's): each
-- route, its status and content type; 404 and 405; the token (401 without it, or with a wrong
-- one or another scheme; the dashboard's files, which hold no data, without it); the console's
-- statuses (200, 400, 403 for a command refused while admin_write is off, 404 for an unknown
-- one, 503 when there is no console) and how a URL becomes a console line; cross-site and rebound-host requests refused;
-- a failing source answered 500 with the connection still usable.
local skynet = require "skynet"
local server = require "http.server"
local routes = require "admin.routes"
local json = require "admin.json"
local t = require "tlib"
local hlib = require "hlib"

local TOKEN = "0123456789abcdef-token"

local console_lines = {} -- (line, write) the console was asked, in order
local state_fails = false

local function sources(opts)
    local o = {
        files = {
            ["/"] = { type = "text/html; charset=utf-8", body = "<html>dash</html>" },
            ["/dashboard.js"] = { type = "text/javascript; charset=utf-8", body = "// js" },
        },
        metrics = function() return "# TYPE up gauge\nup 1\n" end,
        state = function()
            if state_fails then error("state source down") end
            skynet.yield() -- a source may yield
            return { node = { services = 3 }, services = json.array(), locks = {} }
        end,
        console = function(line, write)
            console_lines[#console_lines + 1] = { line, write }
            if line == "boom" then error("no console service (.console) on this node", 0) end
            if line:match("^kill") and not write then
                return "error: kill changes the node: refused on this read-only console\n" ..
                    "<CMD Error>\n"
            end
            if line:match("^nosuch") then
                return "error: unknown command \"nosuch\", type help\n<CMD Error>\n"
            end
            if line:match("^bad") then return "error: no service :0000ffff\n<CMD Error>\n" end
            return "ran " .. line .. "\n<CMD OK>\n"
        end,
        hosts = { ["127.0.0.1"] = true, localhost = true },
        log = function() end,
    }
    for k, v in pairs(opts or {}) do o[k] = v end
    return o
end

-- One request on a connection of its own: -> status, body, header.
local function request(port, method, path, extra, host)
    local c = hlib.connect(port)
    c:send(string.format("%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method, path,
        host or ("127.0.0.1:" .. port), extra or ""))
    local r = assert(c:response(method == "HEAD"))
    c:close()
    return r.status, r.body, r.header
end

local function expect(port, method, path, status, fragment, extra, host)
    local s, body, header = request(port, method, path, extra, host)
    t.eq(s, status, method .. " " .. path .. " status (body: " .. tostring(body) .. ")")
    if fragment then
        t.ok(body:find(fragment, 1, true), string.format("%s %s body %q lacks %q", method, path,
            body, fragment))
    end
    return body, header
end

t.run(function()
    -- console_wait_ms: a profile's sampling time, nothing for other commands.
    t.eq(routes.console_wait_ms("profile :0000000a 7.5 10 lines"), 7500, "a profile's seconds")
    t.eq(routes.console_wait_ms("profile .world"), 1000, "a profile's default second")
    t.eq(routes.console_wait_ms("profile .world 600"), 60000, "at most the console's 60 s")
    t.eq(routes.console_wait_ms("profile .world soon"), 0, "seconds the console will refuse")
    t.eq(routes.console_wait_ms("list"), 0, "another command")
    t.eq(routes.console_wait_ms("profiles .world 9"), 0, "only the profile command")
    -- console_line: path words and the query, decoded.
    t.eq(routes.console_line("/console/list"), "list", "a command")
    t.eq(routes.console_line("/console/info/:0000000a/x%20y"), "info :0000000a x y", "path args")
    t.eq(routes.console_line("/console/call/.world?%22who%22+1"), 'call .world "who" 1',
        "query args")
    t.eq(select(2, routes.console_line("/console/")), "no command: /console/<command>[/args...]",
        "no command")
    t.eq(select(2, routes.console_line("/console/log%0Aerror")),
        "a control character in the command", "no line breaks smuggled in")

    -- Without a token, read-only.
    local _, port = server.listen("127.0.0.1", 0, routes.new(sources()))
    local body, h = expect(port, "GET", "/metrics", 200, "up 1")
    t.eq(h["content-type"], "text/plain; version=0.0.4; charset=utf-8", "metrics content type")
    body, h = expect(port, "GET", "/api/state", 200)
    t.eq(h["content-type"], "application/json", "state content type")
    t.eq(json.decode(body).node.services, 3, "state as JSON")
    t.eq(body, '{"locks":{},"node":{"services":3},"services":[]}', "state text")
    body, h = expect(port, "GET", "/", 200, "dash")
    t.eq(h["content-type"], "text/html; charset=utf-8", "page content type")
    t.ok(h["content-security-policy"]:find("default-src 'self'", 1, true), "the page loads only "
        .. "from the node")
    expect(port, "GET", "/dashboard.js", 200, "// js")
    expect(port, "GET", "/nothing", 404, "no such page: /nothing")
    expect(port, "GET", "/metrics/", 404)
    expect(port, "GET", "/../etc/passwd", 404)
    body, h = expect(port, "POST", "/metrics", 405, "method POST is not allowed here: GET only",
        "Content-Length: 0\r\n")
    t.eq(h["allow"], "GET", "405 says what is allowed")
    expect(port, "DELETE", "/console/list", 405)
    expect(port, "PUT", "/", 405)

    -- The console: statuses and the write flag passed on.
    expect(port, "GET", "/console/list", 200, "ran list\n<CMD OK>")
    t.ok(t.same(console_lines[#console_lines], { "list", false }), "read-only call")
    expect(port, "GET", "/console/kill/:0000000a", 403, "refused on this read-only console")
    expect(port, "GET", "/console/nosuch", 404, "unknown command \"nosuch\"")
    expect(port, "GET", "/console/bad/:0000ffff", 400, "no service :0000ffff")
    expect(port, "GET", "/console/boom", 503, "the debug console is not available: no console")
    expect(port, "GET", "/console/", 400, "no command")
    expect(port, "GET", "/console", 400, "no command")

    -- A browser on another site, or a page that rebinds its own name to 127.0.0.1, gets nothing.
    expect(port, "GET", "/console/list", 403, "cross-site requests are refused",
        "Sec-Fetch-Site: cross-site\r\n")
    expect(port, "GET", "/api/state", 403, "cross-site", "Sec-Fetch-Site: same-site\r\n")
    expect(port, "GET", "/api/state", 200, nil, "Sec-Fetch-Site: same-origin\r\n")
    expect(port, "GET", "/api/state", 403, "host 'evil.example' is not this node's address", nil,
        "evil.example:" .. port)
    expect(port, "GET", "/api/state", 200, nil, nil, "localhost:" .. port)

    -- A failing source: 500, and the same connection answers the next request.
    state_fails = true
    local c = hlib.connect(port)
    c:send("GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    local r = assert(c:response())
    t.eq(r.status, 500, "failing source")
    t.ok(r.body:find("state source down", 1, true), "500 says why: " .. r.body)
    c:send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    t.eq(assert(c:response()).status, 200, "the connection stays usable")
    c:close()
    state_fails = false

    -- With admin_write: the console may change the node.
    local _, wport = server.listen("127.0.0.1", 0, routes.new(sources { write = true }))
    expect(wport, "GET", "/console/kill/:0000000a", 200, "ran kill :0000000a")
    t.ok(t.same(console_lines[#console_lines], { "kill :0000000a", true }), "write passed on")

    -- With a token: every route with data needs it, the static files do not; any Host is fine
    -- (a rebinding page cannot know the token).
    local _, tport = server.listen("127.0.0.1", 0, routes.new(sources { token = TOKEN }))
    local auth = "Authorization: Bearer " .. TOKEN .. "\r\n"
    for _, path in ipairs { "/metrics", "/api/state", "/console/list" } do
        body, h = expect(tport, "GET", path, 401, "Authorization: Bearer <admin_token>")
        t.eq(h["www-authenticate"], 'Bearer realm="skyhive admin"', "401 names the scheme")
        expect(tport, "GET", path, 401, nil, "Authorization: Bearer " .. TOKEN .. "x\r\n")
        expect(tport, "GET", path, 401, nil, "Authorization: Bearer " .. TOKEN:sub(1, -2) .. "\r\n")
        expect(tport, "GET", path, 401, nil, "Authorization: Basic " .. TOKEN .. "\r\n")
        expect(tport, "GET", path, 401, nil, "Authorization: Bearer\r\n")
        expect(tport, "GET", path, 200, nil, auth)
        expect(tport, "GET", path, 200, nil, "Authorization: bearer  " .. TOKEN .. " \r\n")
        expect(tport, "GET", path, 200, nil, auth, "dashboard.example.org")
    end
    expect(tport, "GET", "/", 200, "dash")
    expect(tport, "GET", "/dashboard.js", 200)
    -- Without the token, nothing tells a stranger more than 401 (not even the method rule).
    expect(tport, "POST", "/metrics", 401, nil, "Content-Length: 0\r\n")
    expect(tport, "POST", "/metrics", 405, nil, auth .. "Content-Length: 0\r\n")

    -- The statuses of console answers as the console words them.
    t.eq(routes.console_status("a\nb\n<CMD OK>\n"), 200, "ok")
    t.eq(routes.console_status("error: inject runs code inside a service: refused unless the " ..
        "console is on loopback\n<CMD Error>\n"), 403, "inject refused")
    t.eq(routes.console_status("error: quit: only on a connection\n<CMD Error>\n"), 404, "quit")
    t.eq(routes.console_status("error: call failed: the service refused it\n<CMD Error>\n"), 400,
        "a command's own error that says refused")
    t.eq(routes.console_status("partial output"), 400, "no marker")

    -- routes.new checks its options.
    t.raises({ "opts.token must be nil or a non-empty string" }, routes.new, sources { token = "" })
    t.raises({ "opts.console must be a function" }, routes.new, sources { console = false })
end)
