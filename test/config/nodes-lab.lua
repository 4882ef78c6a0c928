-- A node of with_nodes' own test (test_nodes_lab): lua-test.lua's search paths, running
-- helper_nodes_lab (a line server on the port with_nodes gave the node) instead of a test.
include "lua-test.lua"
start = "helper_nodes_lab"
