#!/usr/bin/env bash
# RSS of 1,000 services reading a ~1 MB table through skynet.sharedata against each holding its
# own copy, each mode in a fresh node; prints both lines of bench_sharedata.lua and the ratio:
#   sharedata.rss_ratio read_copy_over_shared=R total_copy_over_shared=T services=N
# (read: the RSS growth from reading; total: idle services plus reading).
#   bench/lua/sharedata_rss.sh [build-dir] [services] [rows]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
skyhive="$(bench_skyhive "${1:-$bench_root/build}")"
services="${2:-1000}"
rows="${3:-2200}"
bench_service_config "$bench_work/config.lua" 0 bench_sharedata lua ""

run() {  # mode -> the node's sharedata.rss line
    BENCH_ARGS="$1 $services $rows" "$skyhive" "$bench_work/config.lua" | grep -o 'sharedata.rss .*'
}

shared="$(run shared)"
copy="$(run copy)"
echo "$shared"
echo "$copy"
field() { sed -E "s/.* $2=([0-9.]+).*/\\1/" <<<"$1"; }
awk -v sr="$(field "$shared" read_mb)" -v cr="$(field "$copy" read_mb)" \
    -v si="$(field "$shared" idle_mb)" -v ci="$(field "$copy" idle_mb)" -v n="$services" \
    'BEGIN { printf "sharedata.rss_ratio read_copy_over_shared=%.0f total_copy_over_shared=%.1f services=%d\n",
             cr / (sr > 0.1 ? sr : 0.1), (ci + cr) / (si + sr), n }'
