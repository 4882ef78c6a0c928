#!/usr/bin/env bash
# Gold transfers per second between random players across two game nodes sharing one
# redis-server, all started here, against the same transfers done straight from one Lua service.
#   bench/game/game_bench.sh [build-dir] [runs] [clients] [seconds] [cluster]
# Each run (default 5) measures the game (`clients` players, default 20, half on each node, one
# give at a time each, for `seconds`, default 3) and then the reference: the same locks and script
# (services/game/bank.lua) from `clients` coroutines of one service on one Redis connection,
# i.e. the Redis work of a transfer without the gate, agents and world around it. Prints a line
# per run, then the medians:
#   game.transfers.c20 transfers_per_s=2100 ref=2600 ratio=0.81 (ref: ...)
# With "cluster" the nodes and the reference share a Redis Cluster (3 masters with a replica
# each, started by the test harness with_cluster from the build tree) instead: the game's keys
# carry hash tags and a transfer is its chain of one-slot steps (docs/architecture.md).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="${1:-$root/build}"
runs="${2:-5}"
clients="${3:-20}"
seconds="${4:-3}"
mode="${5:-}"
skyhive="$(bench_skyhive "$build")"
bench_need nc
work="$bench_work"

if [ "$mode" = cluster ] && [ -z "${SKYHIVE_TEST_CLUSTER_PORTS:-}" ]; then
    if [ ! -x "$build/test/support/with_cluster" ]; then
        echo "no $build/test/support/with_cluster (cmake --build $build --target with_cluster)" >&2
        exit 1
    fi
    # Run again beside a cluster; this copy's work directory is not needed.
    rm -rf "$bench_work"
    trap - EXIT
    exec "$build/test/support/with_cluster" "$0" "$build" "$runs" "$clients" "$seconds" cluster
fi
if [ "$mode" = cluster ]; then
    port=""
    for p in $SKYHIVE_TEST_CLUSTER_PORTS; do port="${port:+$port,}127.0.0.1:$p"; done
    where="redis_cluster = \"$port\""
else
    bench_start_redis
    port="$redis_port"
    where="redis = \"127.0.0.1:$port\""
fi

game_ports=()
for n in 1 2; do
    gp="$(bench_free_port)"
    game_ports+=("$gp")
    cat > "$work/node$n.lua" <<CONF
include "$root/config/default.lua"
game = "127.0.0.1:$gp"
game_node = "node$n"
debug_console = "127.0.0.1:0"
admin = "127.0.0.1:0"
cluster_listen = "127.0.0.1:0"
$where
loglevel = "warn"
CONF
    (cd "$root" && exec "$skyhive" "$work/node$n.lua" > "$work/node$n.log" 2>&1) &
    bench_track "$!"
done
for n in 1 2; do
    bench_wait_port "${game_ports[$((n - 1))]}" "$work/node$n.log"
done

cat > "$work/bench.lua" <<CONF
thread = 2
harbor = 9
bootstrap = "snlua bootstrap"
start = "bench_game \$BENCH_ARGS"
luaservice = "$root/services/lua/?.lua;$root/bench/game/?.lua"
lua_path = "$root/lualib/?.lua;$root/lualib/?/init.lua;$root/services/game/?.lua"
loglevel = "warn"
$where
CONF

name="game.transfers.c$clients${mode:+.$mode}"
results="$work/results"
: > "$results"
echo "# $clients players on 2 nodes, ${seconds}s per figure; load before: $(uptime)"
for run in $(seq "$runs"); do
    out="$(cd "$root" && BENCH_ARGS="$port ${game_ports[0]},${game_ports[1]} $clients $seconds" \
        "$skyhive" "$work/bench.lua" 2> "$work/bench.err" || true)"
    game="$(awk '$1 == "game.transfers" {print $2}' <<< "$out")"
    ref="$(awk '$1 == "ref.transfers" {print $2}' <<< "$out")"
    if [ -z "$game" ] || [ -z "$ref" ]; then
        echo "$name failed: $(tail -3 "$work/bench.err") $(tail -3 "$work/node1.log")" >&2
        exit 1
    fi
    ratio="$(awk -v a="$game" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
    echo "run$run $name transfers_per_s=$game ref=$ref ratio=$ratio"
    echo "$game $ref" >> "$results"
done
game="$(bench_median 1 "$results")"
ref="$(bench_median 2 "$results")"
ratio="$(awk -v a="$game" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
echo "# load after: $(uptime)"
echo "# medians of $runs runs"
echo "$name transfers_per_s=$game ref=$ref ratio=$ratio (ref: the same locks and script from one Lua service, $clients coroutines)"
