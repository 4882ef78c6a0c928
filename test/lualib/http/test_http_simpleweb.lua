-- A skynet-style web service (helper_simpleweb.lua: a listener, agents, http.httpd,
-- http.sockethelper, http.url) answers http.httpc requests: GET with a query, POST with a body,
-- a body over its 8 KB limit (413), and requests from many coroutines at once spread over its
-- agents.
local skynet = require "skynet"
local httpc = require "http.httpc"
local t = require "tlib"

t.run(function()
    local web = skynet.newservice("helper_simpleweb", "listen")
    local port = skynet.call(web, "lua", "port")
    local host = "127.0.0.1:" .. port

    local status, body = httpc.get(host, "/hello%20there?b=2&a=x+y")
    t.eq(status, 200, "GET status")
    t.eq(body, table.concat({ "host: " .. host, "path: /hello there", "method: GET",
        "query: a=x y", "query: b=2", "body: " }, "\n"), "GET body")
    status, body = httpc.request("POST", host, "/post", nil, { ["X-A"] = "1" }, "payload")
    t.eq(status, 200, "POST status")
    t.ok(body:find("body: payload", 1, true), "POST body echoed: " .. body)
    status = httpc.request("POST", host, "/post", nil, nil, string.rep("z", 9000))
    t.eq(status, 413, "a body over the agent's 8 KB limit")

    local done = 0
    for i = 1, 20 do
        skynet.fork(function()
            local s, b = httpc.get(host, "/n?i=" .. i)
            t.eq(s, 200, "concurrent " .. i)
            t.ok(b:find("query: i=" .. i, 1, true), "concurrent body " .. i)
            done = done + 1
        end)
    end
    t.wait_until(function() return done == 20 end, 500, "20 concurrent requests")
end)
