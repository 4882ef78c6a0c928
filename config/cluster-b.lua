-- Node b of the two-node cluster demonstration (README, "Cluster"): config/cluster-a.lua with
-- b's name, port and debug console; run it beside cluster-a.lua.
include "cluster-a.lua"
cluster_name = "b"
cluster_listen = "127.0.0.1:9102"
debug_console = "127.0.0.1:9112"
admin = "127.0.0.1:8084"
