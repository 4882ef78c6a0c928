#!/usr/bin/env bash
# The Lua Redis client against redis-benchmark, both against one redis-server started here.
#   bench/redis/redis_client_bench.sh [build-dir] [runs]
# For each scenario of bench_redis.lua, SET and GET: the client's ops/s from a Lua service
# (thread = 2), redis-benchmark's in the same run against the same server, and the ratio.
# Prints one line per run and figure, then the medians over `runs` (default 5), each figure's
# median on its own; the ratio there is the median of the runs' own ratios (each run's against
# the reference of that run: the host's noise moves both together, and the ratio of two medians
# from different runs mixes a quiet run with a loud one):
#   redis.client.c1.set ops_per_s=22000 ref=23000 ratio=0.96 cpu_us_per_op=30.1 (ref: redis-benchmark -c 1)
# cpu_us_per_op is the skyhive process's CPU time (all threads) per operation.
# The client's services opt in to socket.inline (replies handled on the socket thread while they
# are idle, docs/lua-api.md); BENCH_INLINE=0 leaves them on the workers (skynet's way). The median
# lines say which (inline=1 or 0).
# Environment: BENCH_PARSE=service parses replies in the service instead of on the socket thread;
# BENCH_FLUSH=fork or timeout defers writes by a fork or skynet.timeout(0) instead of a call at the
# end of the message; BENCH_ONLY=regex picks
# scenarios; BENCH_SERVICES=n spreads c50p16's connections over n services (default 2).
# Key modes (BENCH_KEYS=both, the default, runs the two in turn each run):
#   same    every command uses the one literal key "key:__rand_int__" on both sides, and the
#           client runs an untimed warm-up first; figures redis.client.<scenario>.<op>.
#   varied  a key per command drawn at random from a key space of BENCH_KEY_SPACE keys on both
#           sides (redis-benchmark -r; bench_redis.lua draws its keys the same way before each
#           phase). The default space, 10^9, makes every key a new one: each SET adds a key and
#           each GET looks up one that is not there, on both sides. No warm-up, the server
#           emptied (FLUSHALL) before each side's measurement, and short runs
#           (BENCH_VARIED_SCALE times the requests, default 0.25); figures
#           redis.client.varied.<scenario>.<op>.
# BENCH_SCALE=f multiplies the same-key runs' request counts (default 1).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="${1:-$root/build}"
runs="${2:-5}"
skyhive="$(bench_skyhive "$build")"
bench_need redis-benchmark
work="$bench_work"
bench_start_redis
port="$redis_port"

bench_redis_config "$work/config.lua"

# scenario requests reference-flags reference-label
scenarios=(
    "c1 40000 -c 1 -P 1|redis-benchmark -c 1"
    "co50 400000 -c 50 -P 1|redis-benchmark -c 50"
    "p16 800000 -c 1 -P 16|redis-benchmark -c 1 -P 16"
    "p16b 800000 -c 1 -P 16|redis-benchmark -c 1 -P 16"
    "c50p16 2000000 -c 50 -P 16|redis-benchmark -c 50 -P 16"
)
services="${BENCH_SERVICES:-2}"  # services sharing the 50 connections of c50p16
parse="${BENCH_PARSE:-socket}"    # "service": parse replies in the service instead
export BENCH_INLINE="${BENCH_INLINE:-1}"  # bench_redis.lua reads it
only="${BENCH_ONLY:-}"            # run only the scenarios whose name matches this regex
key_space="${BENCH_KEY_SPACE:-1000000000}"
case "${BENCH_KEYS:-both}" in
    both) modes=(same varied) ;;
    same) modes=(same) ;;
    varied) modes=(varied) ;;
    *) echo "BENCH_KEYS=$BENCH_KEYS: expected both, same or varied" >&2; exit 2 ;;
esac
bench_need redis-cli

mode=same
rand=()
use_mode() {  # same | varied: sets mode, rand (redis-benchmark's key flags), scale, prefix
    mode="$1"
    if [ "$mode" = varied ]; then
        rand=(-r "$key_space"); scale="${BENCH_VARIED_SCALE:-0.25}"; prefix="redis.client.varied"
    else
        rand=(); scale="${BENCH_SCALE:-1}"; prefix="redis.client"
    fi
}

empty_server() {  # varied keys: each side starts from an empty keyspace
    [ "$mode" = varied ] || return 0
    redis-cli -p "$port" flushall >/dev/null
}

reference() {  # requests, flags... -> "set get" requests/s
    local n="$1"; shift
    empty_server
    redis-benchmark -p "$port" -n "$n" -t set,get -q --csv "${rand[@]}" "$@" |
        awk -F'"' '/^"SET"/ {s=$4} /^"GET"/ {g=$4} END {print s, g}'
}

results="$work/results"
: > "$results"
echo "# parse=$parse modes=${modes[*]} key_space=$key_space same_scale=${BENCH_SCALE:-1}" \
    "varied_scale=${BENCH_VARIED_SCALE:-0.25}; load before: $(uptime)"
for run in $(seq "$runs"); do
    for m in "${modes[@]}"; do
        use_mode "$m"
        for entry in "${scenarios[@]}"; do
            spec="${entry%%|*}"
            label="${entry#*|}${rand:+ ${rand[*]}}"
            read -r name n flags <<< "$spec"
            [ -n "$only" ] && ! [[ "$name" =~ $only ]] && continue
            n="$(awk -v n="$n" -v f="$scale" 'BEGIN {v = int(n * f / 800) * 800; print v < 800 ? 800 : v}')"
            read -r ref_set ref_get <<< "$(reference "$n" $flags)"
            empty_server
            args="$name $n $port $services $parse $mode $key_space"
            out="$(BENCH_ARGS="$args" "$skyhive" "$work/config.lua" 2>"$work/err.log" || true)"
            for op in set get; do
                ops="$(awk -v k="$name.$op" '$1 == k {print $2}' <<< "$out")"
                cpu="$(awk -v k="$name.$op" '$1 == k {print $3}' <<< "$out")"
                ref=$ref_set; [ "$op" = get ] && ref=$ref_get
                if [ -z "$ops" ]; then
                    echo "$prefix.$name.$op failed: $(tail -3 "$work/err.log")" >&2
                    continue
                fi
                ratio="$(awk -v a="$ops" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
                echo "run$run $prefix.$name.$op ops_per_s=$ops ref=${ref%.*} ratio=$ratio" \
                    "cpu_us_per_op=$cpu requests=$n"
                echo "$prefix.$name.$op $ops $ref $cpu $n $ratio $label" >> "$results"
            done
        done
    done
done
echo "# load after: $(uptime)"
echo "# medians of $runs runs"
for m in "${modes[@]}"; do
    use_mode "$m"
    for entry in "${scenarios[@]}"; do
        name="${entry%% *}"
        for op in set get; do
            key="$prefix.$name.$op"
            median() {  # column -> median of that column over this figure's runs
                awk -v k="$key" -v c="$1" '$1 == k {print $c}' "$results" | sort -g |
                    awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
            }
            ops="$(median 2)"
            [ -n "$ops" ] || continue
            ref="$(median 3)"
            cpu="$(median 4)"
            label="$(awk -v k="$key" '$1 == k {$1=$2=$3=$4=$5=$6=""; print substr($0, 7); exit}' "$results")"
            ratio="$(median 6)"
            echo "$key ops_per_s=$ops ref=${ref%.*} ratio=$ratio cpu_us_per_op=$cpu (ref: $label," \
                "keys=$mode, $(median 5) requests, inline=$BENCH_INLINE)"
        done
    done
done
