#!/usr/bin/env bash
# Distributed locks under contention, against redis-py's Lock in the same run, one redis-server
# started here for both.
#   bench/redis/lock_bench.sh [build-dir] [runs] [seconds]
# Each run measures, in turn: redis-py (8 processes), skyhive non-fair and fair (8 services),
# each for `seconds` (default 10): 8 contenders loop on one lock (ttl 1 s): read a key, spend
# 1 ms, write key + 1, release. Plus acquire+release pairs/s of one coroutine on a free lock.
# Prints every run's lines, then the medians over `runs` (default 3):
#   lock.contended.c8.nonfair acq_per_s=900 p99_wait_ms=40.1 ref=620 ratio=1.45 exclusive=yes
# The reference needs python3-redis (Debian); without it the ratios are left out.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="${1:-$root/build}"
runs="${2:-3}"
seconds="${3:-10}"
skyhive="$(bench_skyhive "$build")"
python=/usr/bin/python3
have_ref=1
"$python" -c "import redis" 2>/dev/null || { have_ref=0; echo "# python3-redis missing: no reference" >&2; }
work="$bench_work"
bench_start_redis
port="$redis_port"

cat > "$work/config.lua" <<CONF
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "lock_bench \$BENCH_ARGS"
luaservice = "$root/services/lua/?.lua;$root/bench/redis/?.lua"
lua_path = "$root/lualib/?.lua;$root/lualib/?/init.lua"
loglevel = "warn"
CONF

results="$work/results"
: > "$results"
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<< "$2"; }
echo "# load before: $(uptime)"
for run in $(seq "$runs"); do
    ref=""
    if [ "$have_ref" = 1 ]; then
        ref="$("$python" "$root/bench/redis/lock_bench_ref.py" "$port" 8 "$seconds")"
        echo "run$run $ref"
        echo "ref $(field acq_per_s "$ref") $(field p99_wait_ms "$ref")" >> "$results"
    fi
    for mode in nonfair fair; do
        pairs=0
        [ "$mode" = fair ] && pairs=20000
        out="$(BENCH_ARGS="main $port 8 $seconds $mode $pairs" "$skyhive" "$work/config.lua" 2>"$work/err.log" || true)"
        line="$(grep '^lock.contended' <<< "$out" || true)"
        [ -n "$line" ] || { echo "lock bench $mode failed: $(tail -3 "$work/err.log")" >&2; continue; }
        echo "run$run $line"
        echo "$mode $(field acq_per_s "$line") $(field p99_wait_ms "$line") $(field exclusive "$line")" >> "$results"
        un="$(grep '^lock.uncontended' <<< "$out" || true)"
        if [ -n "$un" ]; then
            echo "run$run $un"
            echo "pairs $(field pairs_per_s "$un")" >> "$results"
        fi
    done
done
echo "# load after: $(uptime)"
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }
echo "# medians of $runs runs"
ref_acq="$(awk '$1 == "ref" {print $2}' "$results" | median)"
ref_p99="$(awk '$1 == "ref" {print $3}' "$results" | median)"
[ -n "$ref_acq" ] && echo "ref.redis_py.c8 acq_per_s=$ref_acq p99_wait_ms=$ref_p99"
for mode in nonfair fair; do
    acq="$(awk -v m=$mode '$1 == m {print $2}' "$results" | median)"
    p99="$(awk -v m=$mode '$1 == m {print $3}' "$results" | median)"
    excl="$(awk -v m=$mode '$1 == m && $4 != "yes" {bad=1} END {print bad ? "no" : "yes"}' "$results")"
    [ -n "$acq" ] || continue
    if [ -n "$ref_acq" ]; then
        ratio="$(awk -v a="$acq" -v b="$ref_acq" 'BEGIN {printf "%.2f", a / b}')"
        echo "lock.contended.c8.$mode acq_per_s=$acq p99_wait_ms=$p99 ref=$ref_acq ratio=$ratio exclusive_every_run=$excl"
    else
        echo "lock.contended.c8.$mode acq_per_s=$acq p99_wait_ms=$p99 exclusive_every_run=$excl"
    fi
done
pairs="$(awk '$1 == "pairs" {print $2}' "$results" | median)"
[ -n "$pairs" ] && echo "lock.uncontended pairs_per_s=$pairs"
true
