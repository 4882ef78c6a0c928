#!/usr/bin/env bash
# skynet.multicast fan-out against skynet.send to each subscriber, in one fresh node; prints the
# line of bench_multicast.lua:
#   bench/lua/multicast_bench.sh [build-dir] [subscribers] [publications]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
skyhive="$(bench_skyhive "${1:-$bench_root/build}")"
bench_service_config "$bench_work/config.lua" 0 bench_multicast lua ""
BENCH_ARGS="${2:-100} ${3:-2000}" "$skyhive" "$bench_work/config.lua" | grep -o 'multicast.fanout .*'
