#!/usr/bin/env bash
# The Sentinel demo: a master, 2 replicas and 3 sentinels on free loopback ports in temporary
# directories, a skyhive node whose service writes a counter and holds a lock through
# redis.sentinel, one fault, and the timeline of what followed. Everything started is stopped
# on exit.
#   sentinel-demo/run.sh [kill|pause|failover] [build dir, default ./build]
# Needs redis-server and redis-sentinel, and the build's skyhive and with_sentinel (the test
# launcher that starts and stops the Redis processes): cmake --build build --target skyhive
# with_sentinel
set -eu
cd "$(dirname "$0")/.."
scenario=${1:-kill}
build=${2:-build}
case $scenario in kill | pause | failover) ;; *)
    echo "usage: $0 [kill|pause|failover] [build dir]" >&2
    exit 2
    ;;
esac
for f in "$build/skyhive" "$build/test/support/with_sentinel"; do
    [ -x "$f" ] || { echo "$f is missing: cmake --build $build --target skyhive with_sentinel" >&2; exit 2; }
done
SCENARIO=$scenario exec "$build/test/support/with_sentinel" "$build/skyhive" sentinel-demo/node.lua
