#!/usr/bin/env bash
# The Lua Redis client against redis-benchmark, both against one redis-server started here.
#   bench/redis/redis_client_bench.sh [build-dir] [runs]
# For each scenario of bench_redis.lua, SET and GET: the client's ops/s from a Lua service
# (thread = 2), redis-benchmark's in the same run against the same server, and the ratio.
# Prints one line per run and figure, then the medians over `runs` (default 5), each figure's
# median on its own (ratio = median ops / median ref):
#   redis.client.c1.set ops_per_s=22000 ref=23000 ratio=0.96 cpu_us_per_op=30.1 (ref: redis-benchmark -c 1)
# cpu_us_per_op is the skyhive process's CPU time (all threads) per operation.
# Environment: BENCH_PARSE=service parses replies in the service instead of on the socket thread;
# BENCH_FLUSH=timeout defers writes by skynet.timeout(0) instead of a fork; BENCH_ONLY=regex picks
# scenarios; BENCH_SERVICES=n spreads c50p16's connections over n services (default 2).
# BENCH_KEYS=same (default): every command uses the one literal key "key:__rand_int__" on both
# sides, and the client runs an untimed warm-up first. BENCH_KEYS=varied: a fresh key per command
# from a key space of BENCH_KEY_SPACE keys (default 100000) on both sides (redis-benchmark -r),
# no warm-up, and the server is emptied (FLUSHALL) before each side's measurement.
# BENCH_SCALE=f multiplies every scenario's request count (e.g. 0.25 for short runs).
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

cat > "$work/config.lua" <<CONF
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "bench_redis \$BENCH_ARGS"
luaservice = "$root/services/lua/?.lua;$root/bench/redis/?.lua"
lua_path = "$root/lualib/?.lua;$root/lualib/?/init.lua"
loglevel = "warn"
CONF

# scenario requests reference-flags reference-label
scenarios=(
    "c1 40000 -c 1 -P 1|redis-benchmark -c 1"
    "co50 400000 -c 50 -P 1|redis-benchmark -c 50"
    "p16 800000 -c 1 -P 16|redis-benchmark -c 1 -P 16"
    "c50p16 2000000 -c 50 -P 16|redis-benchmark -c 50 -P 16"
)
services="${BENCH_SERVICES:-2}"  # services sharing the 50 connections of c50p16
parse="${BENCH_PARSE:-socket}"    # "service": parse replies in the service instead
only="${BENCH_ONLY:-}"            # run only the scenarios whose name matches this regex
keys="${BENCH_KEYS:-same}"
key_space="${BENCH_KEY_SPACE:-100000}"
scale="${BENCH_SCALE:-1}"
case "$keys" in
    same) rand=() ;;
    varied) rand=(-r "$key_space") ;;
    *) echo "BENCH_KEYS=$keys: expected same or varied" >&2; exit 2 ;;
esac
bench_need redis-cli

empty_server() {  # varied keys: each side starts from an empty keyspace
    [ "$keys" = varied ] || return 0
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
echo "# parse=$parse keys=$keys key_space=$key_space scale=$scale; load before: $(uptime)"
for run in $(seq "$runs"); do
    for entry in "${scenarios[@]}"; do
        spec="${entry%%|*}"
        label="${entry#*|}${rand:+ ${rand[*]}}"
        read -r name n flags <<< "$spec"
        [ -n "$only" ] && ! [[ "$name" =~ $only ]] && continue
        n="$(awk -v n="$n" -v f="$scale" 'BEGIN {v = int(n * f / 800) * 800; print v < 800 ? 800 : v}')"
        read -r ref_set ref_get <<< "$(reference "$n" $flags)"
        empty_server
        args="$name $n $port $services $parse $keys 0 $key_space"
        out="$(BENCH_ARGS="$args" "$skyhive" "$work/config.lua" 2>"$work/err.log" || true)"
        for op in set get; do
            ops="$(awk -v k="$name.$op" '$1 == k {print $2}' <<< "$out")"
            cpu="$(awk -v k="$name.$op" '$1 == k {print $3}' <<< "$out")"
            ref=$ref_set; [ "$op" = get ] && ref=$ref_get
            if [ -z "$ops" ]; then
                echo "redis.client.$name.$op failed: $(tail -3 "$work/err.log")" >&2
                continue
            fi
            ratio="$(awk -v a="$ops" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
            echo "run$run redis.client.$name.$op ops_per_s=$ops ref=${ref%.*} ratio=$ratio cpu_us_per_op=$cpu"
            echo "$name.$op $ops $ref $cpu $label" >> "$results"
        done
    done
done
echo "# load after: $(uptime)"
echo "# medians of $runs runs (keys=$keys scale=$scale)"
for entry in "${scenarios[@]}"; do
    name="${entry%% *}"
    for op in set get; do
        median() {  # column -> median of that column over this figure's runs
            awk -v k="$name.$op" -v c="$1" '$1 == k {print $c}' "$results" | sort -g |
                awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
        }
        ops="$(median 2)"
        [ -n "$ops" ] || continue
        ref="$(median 3)"
        cpu="$(median 4)"
        label="$(awk -v k="$name.$op" '$1 == k {$1=$2=$3=$4=""; print substr($0, 5); exit}' "$results")"
        ratio="$(awk -v a="$ops" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
        echo "redis.client.$name.$op ops_per_s=$ops ref=${ref%.*} ratio=$ratio cpu_us_per_op=$cpu (ref: $label)"
    done
done
