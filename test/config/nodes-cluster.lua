-- A node started by with_nodes for the skynet.cluster tests (test/lualib/cluster): lua-test.lua's
-- search paths, running helper_cluster_node (a cluster node named and placed by with_nodes).
include "lua-test.lua"
start = "helper_cluster_node"
