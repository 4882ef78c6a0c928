#!/usr/bin/env bash
# What the Redis client's metrics cost per call, against skynet.now() in the same run (see
# bench/redis/metrics_cost.lua):
#   bench/redis/metrics_cost.sh [build-dir]
#   redis.metrics.observe ns=42.0 ref_ns=20.1 ratio=2.09
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
skyhive="$(bench_skyhive "${1:-$root/build}")"
cat > "$bench_work/config.lua" <<CONF
thread = 1
harbor = 0
bootstrap = "snlua bootstrap"
start = "metrics_cost"
luaservice = "$root/services/lua/?.lua;$root/bench/redis/?.lua"
lua_path = "$root/lualib/?.lua;$root/lualib/?/init.lua"
loglevel = "warn"
CONF
"$skyhive" "$bench_work/config.lua" | grep '^redis\.metrics\.'
