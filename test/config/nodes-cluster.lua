-- A node started by with_nodes for the skynet.cluster tests (test/lualib/cluster): lua-test.lua's
-- search paths, running helper_cluster_node, in the cluster under the name and port with_nodes
-- gave it, with the membership in with_nodes' redis-server and short timeouts.
include "lua-test.lua"
start = "helper_cluster_node"
cluster_name = "$SKYHIVE_TEST_NODE_NAME"
cluster_listen = "127.0.0.1:$SKYHIVE_TEST_NODE_PORT"
redis = "127.0.0.1:$SKYHIVE_TEST_REDIS_PORT"
cluster_secret = "three nodes"
cluster_ttl = 1000
cluster_heartbeat = 200
cluster_peer_timeout = 1000
cluster_max_message = 33554432
