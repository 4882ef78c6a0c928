#!/usr/bin/env bash
# What the Redis client's metrics cost per call, against skynet.now() in the same run (see
# bench/redis/metrics_cost.lua):
#   bench/redis/metrics_cost.sh [build-dir]
#   redis.metrics.observe ns=42.0 ref_ns=20.1 ratio=2.09
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
skyhive="$(bench_skyhive "${1:-$root/build}")"
bench_service_config "$bench_work/config.lua" 0 metrics_cost redis "" "thread = 1"
BENCH_ARGS="" "$skyhive" "$bench_work/config.lua" | grep '^redis\.metrics\.'
