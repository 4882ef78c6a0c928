#!/usr/bin/env bash
# The Sentinel demo: a master, 2 replicas and 3 sentinels on free loopback ports in temporary
# directories, a skyhive node whose service writes a counter and holds a lock through
# redis.sentinel, one fault, and the timeline of what followed. Everything started is stopped
# on exit.
#   sentinel-demo/run.sh [kill|pause|failover] [build dir, default ./build]
#   sentinel-demo/run.sh topology [build dir]
# `topology` only keeps such a topology up, on fixed ports, until Ctrl-C: sentinels on
# 127.0.0.1:26379-26381 (what config/sentinel.lua points at), data servers on 6391-6393.
# Needs redis-server and redis-sentinel, and the build's skyhive and with_sentinel (the test
# launcher that starts and stops the Redis processes): cmake --build build --target skyhive
# with_sentinel
set -eu
cd "$(dirname "$0")/.."
scenario=${1:-kill}
build=${2:-build}
case $scenario in kill | pause | failover | topology) ;; *)
    echo "usage: $0 [kill|pause|failover|topology] [build dir]" >&2
    exit 2
    ;;
esac
for f in "$build/skyhive" "$build/test/support/with_sentinel"; do
    [ -x "$f" ] || { echo "$f is missing: cmake --build $build --target skyhive with_sentinel" >&2; exit 2; }
done
if [ "$scenario" = topology ]; then
    # shellcheck disable=SC2016
    exec "$build/test/support/with_sentinel" --ports 6391,6392,6393,26379,26380,26381 sh -c '
        echo "master 127.0.0.1:6391, replicas 6392 6393, sentinels 127.0.0.1:26379-26381 (mymaster); Ctrl-C stops them"
        while :; do sleep 3600; done'
fi
SCENARIO=$scenario exec "$build/test/support/with_sentinel" "$build/skyhive" sentinel-demo/node.lua
