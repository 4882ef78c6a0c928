-- The admin service (services/lua/admin.lua) in a real node, read over HTTP: /api/state is JSON
-- that lists exactly the node's services with their figures, sums the Redis and game families
-- the dashboard plots (merging the latency histograms of every client), and carries the status
-- boards as published; /metrics is the registry's text; the page's files are served from
-- services/admin/www; an address that is not loopback is refused without admin_allow_remote and
-- a token, and with both every request for data needs the token.
local skynet = require "skynet"
local c = require "skynet.core"
local httpc = require "http.httpc"
local metrics = require "skynet.metrics"
local json = require "admin.json"
local t = require "tlib"

local function get(port, path, header)
    local recv = {}
    local status, body = httpc.request("GET", "127.0.0.1:" .. port, path, recv, header)
    return status, body, recv
end

local function state(port)
    local status, body, header = get(port, "/api/state")
    t.eq(status, 200, "/api/state status")
    t.eq(header["content-type"], "application/json", "/api/state content type")
    return json.decode(body)
end

t.run(function()
    local admin = skynet.newservice("admin", "127.0.0.1", 0)
    local host, port = skynet.call(admin, "lua", "address")
    t.eq(host, "127.0.0.1", "admin host")
    t.ok(port > 0, "admin port")

    -- The services: exactly the node's, each with its figures.
    -- Uptime has the timer's 10 ms resolution: a node younger than one tick reads 0.
    local before = skynet.now() / 100
    local s = state(port)
    local list = c.list()
    t.eq(s.node.services, #list, "service count")
    t.eq(#s.services, #list, "one row per service")
    t.ok(s.node.uptime >= before and s.node.uptime <= skynet.now() / 100, "uptime")
    t.ok(s.node.time > 1.7e9, "time")
    t.eq(s.node.workers, 2, "workers (thread = 2)")
    local me = skynet.address(skynet.self())
    local mine, seen = nil, {}
    for i, row in ipairs(s.services) do
        seen[row.address] = true
        if i > 1 then t.ok(row.address > s.services[i - 1].address, "rows in address order") end
        for _, field in ipairs { "messages", "cpu", "mailbox" } do
            t.eq(type(row[field]), "number", row.address .. "." .. field)
        end
        if row.address == me then mine = row end
    end
    for _, h in ipairs(list) do t.ok(seen[skynet.address(h)], "row of " .. skynet.address(h)) end
    t.ok(mine, "this service's row")
    t.eq(mine.module, "snlua", "module")
    t.eq(mine.args, "test_admin", "args")
    t.ok(mine.messages > 0 and mine.memory > 0, "messages and Lua memory of this service")
    t.ok(s.totals.messages >= mine.messages, "node total of messages")
    t.eq(s.totals.redis_commands, nil, "no Redis family yet: no figure")
    t.eq(s.redis_latency, nil, "no Redis latency yet")
    for _, topic in ipairs { "sentinel", "locks", "cluster" } do
        t.ok(next(s[topic]) == nil, topic .. " board empty")
    end

    -- What the dashboard plots, from the registry: commands summed over clients, the latency
    -- histograms of every client merged into one.
    local bounds = { 0.001, 0.01, 0.1 }
    local commands = metrics.counter("skyhive_redis_commands_total", "commands",
        { "client", "role" })
    local duration = metrics.histogram("skyhive_redis_command_duration_seconds", "latency",
        { "client", "role" }, bounds)
    commands:labels("a", "master"):inc(10)
    commands:labels("b", "replica"):inc(5)
    local da, db = duration:labels("a", "master"), duration:labels("b", "replica")
    da:observe(0.0005)
    da:observe(0.05)
    db:observe(0.005)
    db:observe(5)
    metrics.gauge("skyhive_game_players_online", "players"):set(7)
    metrics.publish("locks", "game:lock:alice", { holder = me, token = "t1", fencing = 3,
        since = 1700000000000, waiters = 2 })
    metrics.publish("sentinel", "mymaster", { master = "127.0.0.1:6391",
        replicas = { "127.0.0.1:6392" }, last_failover = { { at = 1, event = "+switch-master",
        detail = "mymaster a b" } } })
    metrics.publish("cluster", "node2", { address = "127.0.0.1:9002", epoch = 4, link = "up" })

    s = state(port)
    t.eq(s.totals.redis_commands, 15, "commands of both clients")
    t.eq(s.totals.players_online, 7, "players online")
    t.eq(s.redis_latency.count, 4, "observations of both clients")
    t.ok(math.abs(s.redis_latency.sum - 5.0555) < 1e-9, "sum of both clients")
    t.eq(json.encode(s.redis_latency.buckets), '[[0.001,1],[0.01,2],[0.1,3],["+Inf",4]]',
        "cumulative buckets merged, +Inf last")
    t.eq(s.locks["game:lock:alice"].waiters, 2, "lock board")
    t.eq(s.locks["game:lock:alice"].holder, me, "lock holder")
    t.eq(s.sentinel.mymaster.last_failover[1].event, "+switch-master", "sentinel board")
    t.eq(s.sentinel.mymaster.replicas[1], "127.0.0.1:6392", "sentinel replicas")
    t.eq(s.cluster.node2.link, "up", "cluster board")
    metrics.publish("locks", "game:lock:alice", nil)
    t.ok(next(state(port).locks) == nil, "a released lock leaves the board")

    -- /metrics is the registry's own text.
    local status, body, header = get(port, "/metrics")
    t.eq(status, 200, "/metrics status")
    t.eq(header["content-type"], "text/plain; version=0.0.4; charset=utf-8", "exposition type")
    -- The registry's text: the same families as metrics.render() (the node's figures move).
    local function types(text)
        local list = {}
        for line in text:gmatch("# TYPE [^\n]+") do list[#list + 1] = line end
        return table.concat(list, "\n")
    end
    t.ok(body:find("# TYPE skyhive_node_messages_total counter", 1, true), "built-in metrics")
    t.eq(types(body), types(metrics.render()), "/metrics is metrics.render()")
    t.ok(body:find('skyhive_redis_commands_total{client="a",role="master"} 10', 1, true),
        "a registered family in /metrics")

    -- The page and its files.
    status, body, header = get(port, "/")
    t.eq(status, 200, "/ status")
    t.eq(header["content-type"], "text/html; charset=utf-8", "page type")
    t.ok(body:find('<script src="/dashboard.js"', 1, true), "the page loads the script")
    t.ok(not body:find("http://", 1, true) and not body:find("https://", 1, true),
        "the page loads nothing from elsewhere")
    for _, file in ipairs { "/dashboard.js", "/dashboard.css", "/favicon.svg", "/index.html" } do
        t.eq((get(port, file)), 200, file)
    end
    t.eq((get(port, "/console/list")), 503, "no console service in this node: 503")

    -- Remote addresses.
    t.raises({ "admin: 0.0.0.0 is not a loopback address",
        "set admin_allow_remote = true and an admin_token" }, skynet.newservice, "admin", "0.0.0.0",
        0)
    skynet.setenv("admin_allow_remote", "true")
    t.raises({ "admin: 0.0.0.0 is not a loopback address", "needs an admin_token" },
        skynet.newservice, "admin", "0.0.0.0", 0)
    skynet.setenv("admin_token", "0123456789abcdef0123")
    local remote = skynet.newservice("admin", "0.0.0.0", 0)
    local _, rport = skynet.call(remote, "lua", "address")
    t.eq((get(rport, "/api/state")), 401, "no token")
    t.eq((get(rport, "/api/state", { authorization = "Bearer 0123456789abcdef0123" })), 200,
        "the token")
    t.eq((get(rport, "/")), 200, "the page needs no token")
end)
