-- A node of the multi-process cluster tests (config test/config/nodes-cluster.lua, started by
-- with_nodes): serves helper_cluster_target as ".target" and as the registered "@tgt" (and
-- another as ".target2"), and opens
-- the cluster (it joins the membership). Logs "cluster: node X listening on ..." once open.
local skynet = require "skynet"
local cluster = require "skynet.cluster"

skynet.start(function()
    local target = skynet.newservice "helper_cluster_target"
    skynet.name(".target", target)
    skynet.name(".target2", skynet.newservice "helper_cluster_target")
    cluster.register("tgt", target)
    cluster.open()
end)
