#!/usr/bin/env bash
# The Sentinel demo: a master, 2 replicas and 3 sentinels on free loopback ports in temporary
# directories, a skyhive node whose service writes a counter and holds a lock through
# redis.sentinel, one fault, and the timeline of what followed. Everything started is stopped
# on exit.
#   sentinel-demo/run.sh [kill|pause|failover] [build dir, default ./build]
#   sentinel-demo/run.sh topology [build dir]
# `topology` only keeps such a topology up, on fixed ports, until Ctrl-C: sentinels on
# 127.0.0.1:26379-26381 (what config/sentinel.lua points at), data servers on 6391-6393.
# The topology is sentinel-demo/topology.sh's (needs redis-server, redis-sentinel and redis-cli);
# the node is the build's skyhive: cmake --build build --target skyhive
set -eu
cd "$(dirname "$0")/.."
scenario=${1:-kill}
build=${2:-build}
case $scenario in kill | pause | failover | topology) ;; *)
    echo "usage: $0 [kill|pause|failover|topology] [build dir]" >&2
    exit 2
    ;;
esac
if [ "$scenario" = topology ]; then
    exec sentinel-demo/topology.sh --ports 6391,6392,6393,26379,26380,26381 sh -c '
        echo "master 127.0.0.1:6391, replicas 6392 6393, sentinels 127.0.0.1:26379-26381 (mymaster); Ctrl-C stops them"
        exec sleep infinity'
fi
[ -x "$build/skyhive" ] || { echo "$build/skyhive is missing: cmake --build $build --target skyhive" >&2; exit 2; }
SCENARIO=$scenario exec sentinel-demo/topology.sh "$build/skyhive" sentinel-demo/node.lua
