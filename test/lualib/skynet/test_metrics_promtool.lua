-- The node's whole /metrics text passes `promtool check metrics` (Prometheus's parser and its
-- lint): the built-in node, service and process metrics, and families of every type with labels
-- whose values need escaping. Exits 77 (ctest: skipped) when promtool is not installed.
local skynet = require "skynet"
local metrics = require "skynet.metrics"
local t = require "tlib"

local function shell(command)
    local f = assert(io.popen(command .. " 2>&1; echo \"exit:$?\""))
    local out = f:read("a")
    f:close()
    return out
end

t.run(function()
    if not shell("command -v promtool"):find("exit:0", 1, true) then
        skynet.error("SKIP test_metrics_promtool: promtool is not installed (Debian: prometheus)")
        skynet.abort(77)
        return
    end
    for _ = 1, 3 do skynet.newservice("helper_metrics") end
    local hits = metrics.counter("test_requests_total", "Requests by route and code.",
        { "route", "code" })
    hits:labels("/a \"quoted\"", 200):inc(3)
    hits:labels("back\\slash\nnewline", "500"):inc()
    metrics.gauge("test_players", "Players online.\nSecond line \\ of help."):set(12.5)
    local lat = metrics.histogram("test_latency_seconds", "Latency.", { "op" })
    for i = 1, 100 do lat:labels("get"):observe(i / 1000) end
    lat:labels("set")  -- a child with no observation yet
    metrics.publish("locks", "a", { holder = ":00000001" })

    local text = metrics.render()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    local out = shell("promtool check metrics < " .. path)
    os.remove(path)
    t.eq(out, "exit:0\n", "promtool check metrics (any output is a problem it found)")
    t.ok(text:find("skyhive_service_messages_total{", 1, true), "the text has per-service series")
end)
