-- A service for test_metrics: registers the families the test registers too, and updates them on
-- request ("lua" protocol):
--   hit kind, n          -> adds n to test_hits_total{kind}
--   level v              -> sets test_level (a gauge without labels)
--   wait seconds         -> observes seconds in test_wait_seconds{op="get"}
--   publish topic, key, value -> metrics.publish(topic, key, value)
--   register kind, name, labels -> registers a family; answers false, error text on failure
local skynet = require "skynet"
local metrics = require "skynet.metrics"

local hits = metrics.counter("test_hits_total", "Hits by kind.", { "kind" })
local level = metrics.gauge("test_level", "A level.")
local wait = metrics.histogram("test_wait_seconds", "Waits.", { "op" }, { 0.01, 0.1, 1 })

local CMD = {}

function CMD.hit(kind, n) hits:labels(kind):inc(n) end

function CMD.level(v) level:set(v) end

function CMD.wait(seconds) wait:labels("get"):observe(seconds) end

function CMD.publish(topic, key, value) metrics.publish(topic, key, value) end

function CMD.register(kind, name, labels)
    local ok, err = pcall(metrics[kind], name, "Registered by the helper.", labels)
    return ok, not ok and err or nil
end

skynet.start(function()
    skynet.dispatch("lua", function(_, _, cmd, ...)
        skynet.retpack(CMD[cmd](...))
    end)
end)
