#!/usr/bin/env bash
# The Redis Cluster client against redis-benchmark --cluster, both against one 6-node cluster
# (3 masters, 3 replicas) that the test harness with_cluster starts here.
#   bench/redis/cluster_bench.sh [build-dir] [runs]
# build-dir must have skyhive and with_cluster built:
#   cmake --build build --target skyhive with_cluster
# Per run (default 3), each figure beside its reference measured in the same run:
#   redis.cluster.c50.set|get   50 coroutines on one client, keys over every slot, against
#                               redis-benchmark --cluster -c 50 -r 100000 (target ratio >= 0.8)
#   redis.cluster.p16.set|get   50 coroutines sending pipelines of 16 keys across slots, against
#                               redis-benchmark --cluster -c 50 -P 16 -r 100000 (target >= 0.6)
#   redis.cluster.p16s2.set|get the same spread over 2 services (a client each, 25 coroutines
#                               each), as redis_client_bench.sh's c50p16: one service is one
#                               thread, redis-benchmark and the servers have the other core
#   redis.cluster.reshard       50 coroutines GETting (one op in ten a SET) while 1,000 slots
#                               move between two masters (redis-cli --cluster reshard over
#                               100,000 keys): errors surfaced (target 0), and the p99 of a GET
#                               during the reshard against its p99 just before
# Prints one line per run and figure, then the medians over the runs (ratio = median / median).
# cpu_us_per_op is the skyhive process's CPU time (all threads) per operation.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="${1:-$root/build}"
runs="${2:-3}"
skyhive="$(bench_skyhive "$build")"
with_cluster="$(cd "$build" && pwd)/test/support/with_cluster"
if [ ! -x "$with_cluster" ]; then
    echo "no $with_cluster (cmake --build $build --target with_cluster)" >&2
    exit 2
fi
bench_need redis-benchmark redis-cli
work="$bench_work"

bench_service_config "$work/config.lua" 0 bench_cluster redis ""

# Runs under with_cluster: every run's figures go to $work/results as
# "<figure> <value> <reference> <cpu_us_per_op>".
ratio() {  # a b -> a / b with two decimals
    awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'
}
cat > "$work/inner.sh" <<'INNER'
set -euo pipefail
lab="$SKYHIVE_TEST_LAB_PORT"
mapfile -t masters < <(redis-cli -p "$lab" MASTERS)
seed="${masters[0]}"
reference() {  # requests, flags... -> "set get" requests/s
    local n="$1"; shift
    redis-benchmark --cluster -h 127.0.0.1 -p "$seed" -n "$n" -r 100000 -t set,get -q --csv "$@" |
        awk -F'"' '/^"SET"/ {s=$4} /^"GET"/ {g=$4} END {print s, g}'
}
ours() {  # BENCH_ARGS -> the service's stdout
    BENCH_ARGS="$*" "$skyhive" "$work/config.lua" 2>>"$work/err.log" || true
}
for run in $(seq "$runs"); do
    # figure | the service's arguments | redis-benchmark's requests and flags
    for entry in "c50|c50 200000|200000 -c 50" "p16|p16 1000000|1000000 -c 50 -P 16" \
                 "p16s2|p16 1000000 2|1000000 -c 50 -P 16"; do
        IFS='|' read -r name args refargs <<< "$entry"
        read -r ref_set ref_get <<< "$(reference $refargs)"
        out="$(ours $args)"
        scen="${args%% *}"
        for op in set get; do
            read -r ops cpu <<< "$(awk -v k="$scen.$op" '$1 == k {print $2, $3}' <<< "$out")"
            ref=$ref_set; [ "$op" = get ] && ref=$ref_get
            if [ -z "${ops:-}" ]; then
                echo "redis.cluster.$name.$op failed: $(tail -3 "$work/err.log")" >&2
                continue
            fi
            echo "run$run redis.cluster.$name.$op ops_per_s=$ops ref=${ref%.*} ratio=$(ratio "$ops" "$ref") cpu_us_per_op=$cpu"
            echo "$name.$op $ops $ref $cpu" >> "$work/results"
        done
    done
    # The slots go from the first master to the second, and back on the next run.
    from="${masters[0]}"; to="${masters[1]}"
    if [ $((run % 2)) = 0 ]; then from="${masters[1]}"; to="${masters[0]}"; fi
    read -r tag errors before during gets secs moved ask <<< "$(ours reshard 0 "$from" "$to" | grep '^reshard ')" || true
    if [ "${tag:-}" != reshard ]; then
        echo "redis.cluster.reshard failed: $(tail -3 "$work/err.log")" >&2
        continue
    fi
    echo "run$run redis.cluster.reshard errors=$errors get_p99_ms=$during ref_p99_before_ms=$before ratio=$(ratio "$during" "$before") gets_per_s=$gets reshard_s=$secs moved=$moved ask=$ask"
    echo "reshard.errors $errors 0 0" >> "$work/results"
    echo "reshard.p99 $during $before 0" >> "$work/results"
    echo "reshard.secs $secs 0 0" >> "$work/results"
done
INNER

: > "$work/results"
echo "# load before: $(uptime)"
export work skyhive runs
export -f ratio
"$with_cluster" -- bash "$work/inner.sh"
echo "# load after: $(uptime)"
echo "# medians of $runs runs"
median() {  # figure column -> the median of that column over the figure's runs
    awk -v k="$1" '$1 == k' "$work/results" > "$work/one"
    bench_median "$2" "$work/one"
}
declare -A labels=([c50]="redis-benchmark --cluster -c 50"
                  [p16]="redis-benchmark --cluster -c 50 -P 16"
                  [p16s2]="redis-benchmark --cluster -c 50 -P 16")
for name in c50 p16 p16s2; do
    for op in set get; do
        ops="$(median "$name.$op" 2)"
        [ -n "$ops" ] || continue
        ref="$(median "$name.$op" 3)"
        echo "redis.cluster.$name.$op ops_per_s=$ops ref=${ref%.*} ratio=$(ratio "$ops" "$ref") cpu_us_per_op=$(median "$name.$op" 4) (ref: ${labels[$name]})"
    done
done
during="$(median reshard.p99 2)"
if [ -n "$during" ]; then
    before="$(median reshard.p99 3)"
    echo "redis.cluster.reshard.errors errors=$(median reshard.errors 2) ref=0 (target: none surfaced)"
    echo "redis.cluster.reshard.get_p99 ms=$during ref_before_ms=$before ratio=$(ratio "$during" "$before") reshard_s=$(median reshard.secs 2) (ref: p99 of a GET just before the reshard)"
fi
