-- skynet.cluster.metrics: the metrics of one link between two nodes (clusterlink.lua), labelled
-- node (this node's cluster name) and peer (the other node's); docs/operations.md, "Metrics of
-- Redis, locks, Sentinel, the cluster and the game". Children are made once, when the link's
-- service starts; the link then only calls inc/set on them.
--
-- Thread: the link's service (the registry is the node's; updates may come from any worker).
local metrics = require "skynet.metrics"

local M = {}

local L = { "node", "peer" }

-- The children of the link from node `node` to `peer`: requests (calls and pushes sent),
-- served (requests of the peer handed to a local service), errors (calls that failed here or
-- were answered with an error), up (gauge: 1 while the link is up), downs (times it went down),
-- sent_bytes (request and answer frames written), received_bytes (every frame read).
function M.link(node, peer)
    node, peer = tostring(node), tostring(peer)
    local up = metrics.gauge("skyhive_cluster_link_up",
        "1 while the link to the peer node is up (handshake done), else 0", L):labels(node, peer)
    local downs = metrics.counter("skyhive_cluster_link_downs_total",
        "Times the link to the peer node went down after being up", L):labels(node, peer)
    local m = {
        sent = metrics.counter("skyhive_cluster_requests_sent_total",
            "Calls and pushes this node sent to the peer node", L):labels(node, peer),
        served = metrics.counter("skyhive_cluster_requests_served_total",
            "Calls and pushes of the peer node handed to a local service", L):labels(node, peer),
        errors = metrics.counter("skyhive_cluster_errors_total",
            "Calls to the peer node that failed (not sent, link lost, or an error answer)", L)
            :labels(node, peer),
        sent_bytes = metrics.counter("skyhive_cluster_sent_bytes_total",
            "Bytes of request and answer frames written to the peer node", L):labels(node, peer),
        received_bytes = metrics.counter("skyhive_cluster_received_bytes_total",
            "Bytes of frames read from the peer node", L):labels(node, peer),
    }
    -- The link went up (true) or down (false).
    function m.link(is_up)
        up:set(is_up and 1 or 0)
        if not is_up then downs:inc() end
    end
    up:set(0)
    return m
end

return M
