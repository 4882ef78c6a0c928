-- A node of the multi-process cluster tests (config test/config/nodes-cluster.lua, started by
-- with_nodes): serves helper_cluster_target as ".target" and as the registered "@tgt", and opens
-- the cluster with the name and port with_nodes gave it. Logs "cluster: node X listening on ...".
local skynet = require "skynet"
local cluster = require "skynet.cluster"
local nodes = require "nodes"

skynet.start(function()
    local target = skynet.newservice "helper_cluster_target"
    skynet.name(".target", target)
    cluster.register("tgt", target)
    cluster.open(nodes.options())
end)
