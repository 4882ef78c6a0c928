-- skynet.metrics: two services register and update the same families; render() shows the sum in
-- the Prometheus text format and collect() the same numbers; registration errors name the rule;
-- the status board keeps copies, removes on nil and stays bounded.
local skynet = require "skynet"
local metrics = require "skynet.metrics"
local t = require "tlib"

-- The line of `render` whose series is `series` (name and labels as written), its value.
local function sample(text, series)
    for line in text:gmatch("[^\n]+") do
        local name, value = line:match("^(.-) (%S+)$")
        if name == series then return tonumber(value) end
    end
end

t.run(function()
    local helper = skynet.newservice("helper_metrics")
    local hits = metrics.counter("test_hits_total", "Hits by kind.", { "kind" })
    t.eq(metrics.counter("test_hits_total", "Hits by kind.", { "kind" }), metrics.counter(
        "test_hits_total", "other help is ignored", { "kind" }) and hits, "registering again")

    -- The same family from two services: one series, the sum of both.
    hits:labels("a"):inc()
    hits:labels("a"):inc(2)
    t.ok(hits:labels("a") == hits:labels("a"), "labels: the same child for the same values")
    skynet.call(helper, "lua", "hit", "a", 10)
    skynet.call(helper, "lua", "hit", "b\"\\\n", 1.5)
    local text = metrics.render()
    t.eq(sample(text, 'test_hits_total{kind="a"}'), 13, "render: the sum of two services")
    t.eq(sample(text, 'test_hits_total{kind="b\\"\\\\\\n"}'), 1.5, "render: escaped label value")
    t.ok(text:find("# HELP test_hits_total Hits by kind.\n# TYPE test_hits_total counter\n", 1,
        true), "HELP and TYPE lines")

    -- Gauge without labels, histogram with buckets.
    local level = metrics.gauge("test_level", "A level.")
    skynet.call(helper, "lua", "level", 7)
    level:inc(3)
    level:dec(1)
    local wait = metrics.histogram("test_wait_seconds", "Waits.", { "op" }, { 0.01, 0.1, 1 })
    wait:labels("get"):observe(0.005)
    skynet.call(helper, "lua", "wait", 0.5)
    skynet.call(helper, "lua", "wait", 5)
    text = metrics.render()
    t.eq(sample(text, "test_level"), 9, "gauge: set in one service, inc and dec in another")
    t.eq(sample(text, 'test_wait_seconds_bucket{op="get",le="0.01"}'), 1, "bucket 0.01")
    t.eq(sample(text, 'test_wait_seconds_bucket{op="get",le="0.1"}'), 1, "bucket 0.1")
    t.eq(sample(text, 'test_wait_seconds_bucket{op="get",le="1"}'), 2, "bucket 1")
    t.eq(sample(text, 'test_wait_seconds_bucket{op="get",le="+Inf"}'), 3, "bucket +Inf")
    t.eq(sample(text, 'test_wait_seconds_count{op="get"}'), 3, "count")
    t.eq(sample(text, 'test_wait_seconds_sum{op="get"}'), 5.505, "sum")

    -- collect(): the same data as tables.
    local all = metrics.collect()
    local fam = all.test_hits_total
    t.eq(fam.type, "counter", "collect: type")
    t.eq(fam.help, "Hits by kind.", "collect: help")
    local by_kind = {}
    for _, s in ipairs(fam.samples) do by_kind[s.labels.kind] = s.value end
    t.eq(by_kind.a, 13, "collect: the sum")
    t.eq(by_kind["b\"\\\n"], 1.5, "collect: raw label value")
    t.eq(all.test_level.samples[1].value, 9, "collect: gauge")
    local h = all.test_wait_seconds.samples[1]
    t.eq(h.labels.op, "get", "collect: histogram labels")
    t.eq(h.count, 3, "collect: histogram count")
    t.eq(h.sum, 5.505, "collect: histogram sum")
    t.ok(t.same(h.buckets, { { 0.01, 1 }, { 0.1, 1 }, { 1.0, 2 }, { math.huge, 3 } }),
        "collect: cumulative buckets")

    -- Registration errors: another type, other labels (from either service), bad names.
    t.raises({ "metrics.gauge", "test_hits_total", "already registered as a counter" },
        metrics.gauge, "test_hits_total", "x")
    local ok, err = skynet.call(helper, "lua", "register", "counter", "test_hits_total",
        { "kind", "extra" })
    t.eq(ok, false, "the helper's conflicting registration fails")
    t.ok(err:find("already registered with other label names", 1, true), err)
    t.raises({ "a counter's name ends in '_total'" }, metrics.counter, "test_hits", "x")
    t.raises({ "lower-case letters" }, metrics.gauge, "testLevel", "x")
    t.raises({ "help text is required" }, metrics.gauge, "test_nohelp", "")
    t.raises({ "'le' is reserved" }, metrics.histogram, "test_lag_seconds", "x", { "le" })
    t.raises({ "bucket bounds must increase" }, metrics.histogram, "test_lag_seconds", "x", {},
        { 1, 0.5 })
    t.raises({ "already registered with other buckets" }, metrics.histogram,
        "test_wait_seconds", "Waits.", { "op" }, { 0.01, 0.1 })
    t.raises({ "belongs to a built-in metric" }, metrics.counter,
        "skyhive_metrics_dropped_label_sets_total", "x", { "family" })

    -- Misuse of a family or child.
    t.raises({ "test_hits_total takes 1 label value(s), got 2" }, hits.labels, hits, "a", "b")
    t.raises({ "test_hits_total has labels" }, hits.inc, hits)
    t.raises({ "a counter only goes up" }, hits:labels("a").inc, hits:labels("a"), -1)
    t.raises({ "is a counter: it has no set" }, hits:labels("a").set, hits:labels("a"), 1)
    t.raises({ "is a gauge: it has no observe" }, level.observe, level, 1)
    t.raises({ "label kind is a table" }, hits.labels, hits, {})
    -- The methods tell a family or child by its metatable: a look-alike, another kind of
    -- userdata or a dot call is refused.
    local child = hits:labels("a")
    local other = require("skyhive.redis.codec").buffer()
    -- io.stdout: a userdata of the base library's, with a metatable of its own.
    for _, x in ipairs({ setmetatable({}, getmetatable(child)), other, io.stdout, "x", 1 }) do
        t.raises({ "inc needs a metric family or child (use ':')" }, child.inc, x)
        t.raises({ "observe needs a metric family or child" }, level.observe, x, 1)
    end
    -- metrics.methods: the same functions, for callers that keep them as upvalues.
    for _, name in ipairs({ "inc", "dec", "set", "observe" }) do
        t.eq(metrics.methods[name], child[name], "metrics.methods." .. name)
    end
    local before = sample(metrics.render(), 'test_hits_total{kind="a"}')
    metrics.methods.inc(child, 2)
    t.eq(sample(metrics.render(), 'test_hits_total{kind="a"}'), before + 2, "methods.inc counts")
    t.raises({ "inc needs a metric family or child" }, metrics.methods.inc, other, 1)
    -- A copy: changing it changes no metric's methods.
    local inc = metrics.methods.inc
    metrics.methods.inc = nil
    t.eq(child.inc, inc, "the child keeps inc")
    metrics.methods.inc = inc

    -- Built-in metrics, read from what the node keeps.
    local core = require "skynet.core"
    -- A ".critical.<address>" name only marks a service for the console: the label passes it over.
    skynet.name(string.format(".critical.%08x", helper), helper)
    text = metrics.render()
    t.eq(sample(text, "skyhive_node_services"), #core.list(), "node: services")
    t.eq(sample(text, "skyhive_node_workers"), 2, "node: workers (thread = 2)")
    t.ok(sample(text, "skyhive_node_uptime_seconds") >= 0, "node: uptime")
    t.ok(sample(text, "skyhive_node_start_time_seconds") == skynet.starttime(), "node: start time")
    t.eq(sample(text, "skyhive_node_monitor_reports_total"), 0, "node: monitor reports")
    t.ok(sample(text, "skyhive_node_global_queue_length") >= 0, "node: global queue")
    local address = string.format(":%08x", helper)
    local series = string.format('{address="%s",name="helper_metrics",module="snlua"}', address)
    local info = core.info(helper)
    t.eq(sample(text, "skyhive_service_messages_total" .. series), info.messages,
        "service: messages (the helper is idle)")
    t.ok(info.messages >= 6, "the helper ran the 6 requests at least")
    t.eq(sample(text, "skyhive_service_mailbox_length" .. series), 0, "service: mailbox")
    t.eq(sample(text, "skyhive_service_lua_memory_bytes" .. series), info.memory,
        "service: Lua memory")
    t.ok(sample(text, "skyhive_service_cpu_seconds_total" .. series) > 0, "service: CPU")
    local self_series = string.format('{address=":%08x",name="test_metrics",module="snlua"}',
        skynet.self())
    t.ok(sample(text, "skyhive_service_messages_total" .. self_series), "service: this test")
    local live = 0
    for _, h in ipairs(core.list()) do live = live + core.info(h).messages end
    t.ok(sample(metrics.render(), "skyhive_node_messages_total") >= live,
        "node: messages at least those of the live services")
    -- A service's messages stay in the node's total after it exits.
    local echo = skynet.newservice("helper_echo")
    for i = 1, 200 do skynet.call(echo, "lua", "echo", i) end
    local before = sample(metrics.render(), "skyhive_node_messages_total")
    skynet.call(echo, "lua", "exit")
    t.wait_until(function() return core.info(echo) == nil end, 500, "the echo service's exit")
    text = metrics.render()
    t.ok(sample(text, "skyhive_node_messages_total") >= before,
        "node: messages of an exited service still counted")
    t.eq(sample(text, string.format('skyhive_service_messages_total{address=":%08x",' ..
        'name="helper_echo",module="snlua"}', echo)), nil, "service: an exited service's series go")
    t.ok(sample(text, "skyhive_process_resident_memory_bytes") > 0, "process: RSS")
    t.ok(sample(text, "skyhive_process_cpu_seconds_total") > 0, "process: CPU")
    t.ok(sample(text, "skyhive_process_open_sockets") >= 0, "process: open sockets")
    t.ok(metrics.collect().skyhive_service_messages_total.samples[1].labels.address,
        "collect: built-ins too")

    -- The status board: copies, nested values, removal, bad values.
    metrics.publish("test", "lock:a", { holder = ":0000000a", fencing = 3, held = true,
        waiters = { 1, 2 } })
    skynet.call(helper, "lua", "publish", "test", "lock:b", { holder = "x" })
    local board = metrics.board("test")
    t.ok(t.same(board["lock:a"], { holder = ":0000000a", fencing = 3, held = true,
        waiters = { 1, 2 } }), "board: the value as published")
    t.eq(board["lock:b"].holder, "x", "board: a key another service published")
    board["lock:a"].holder = "changed"
    t.eq(metrics.board("test")["lock:a"].holder, ":0000000a", "board: a copy")
    skynet.call(helper, "lua", "publish", "test", "lock:a", nil)
    t.eq(metrics.board("test")["lock:a"], nil, "board: nil removes")
    t.ok(t.same(metrics.board("no such topic"), {}), "board: unknown topic")
    t.raises({ "test/k.f is a function" }, metrics.publish, "test", "k", { f = print })
    local cycle = {}
    cycle.self = cycle
    t.raises({ "nested deeper than 16" }, metrics.publish, "test", "k", cycle)

    -- At most 1000 keys per topic: the oldest go, and are counted.
    for i = 1, 1005 do metrics.publish("bounded", "k" .. i, { i = i }) end
    board = metrics.board("bounded")
    local n = 0
    for _ in pairs(board) do n = n + 1 end
    t.eq(n, 1000, "board: 1000 keys kept")
    t.eq(board.k5, nil, "board: the oldest dropped")
    t.eq(board.k6.i, 6, "board: the sixth kept")
    t.eq(sample(metrics.render(), 'skyhive_metrics_board_dropped_keys_total{topic="bounded"}'), 5,
        "board: the dropped keys counted")
end)
