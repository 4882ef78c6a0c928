-- The test node of the multi-process skynet.cluster tests (a first line "-- config:
-- nodes-cluster-test"): nodes-cluster.lua's settings, running the test service TEST.
include "nodes-cluster.lua"
start = "$TEST"
