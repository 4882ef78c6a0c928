#!/usr/bin/env bash
# Node-to-node calls (skynet.cluster) between two skyhive nodes on loopback, against a plain C++
# TCP request/response ping-pong between two processes (tcp_pingpong) measured in the same run.
#   bench/cluster/cluster_bench.sh [build-dir] [runs]
# build-dir must have skyhive, with_nodes and tcp_pingpong built:
#   cmake --build build --target skyhive with_nodes tcp_pingpong
# Each run (default 3) measures the reference, then the calls: with_nodes starts node b (the
# server) and runs node a (the client, bench_cluster.lua), each figure for $BENCH_SECONDS (2 s).
# Prints one line per run and figure, then the medians over the runs:
#   cluster.call.c1 calls_per_s=N ref=N ratio=R local_calls_per_s=N
#       1 coroutine; ref: tcp_pingpong c1 (target ratio >= 0.8); local: same-node skynet.call.
#       The medians line's ratio is the median of the runs' own ratios (each against the
#       reference of its run: the host's noise moves both together)
#   cluster.call.c1.spin calls_per_s=N ref=N ratio=R socket_spin=20
#       the same with socket_spin = 20 on both nodes (their socket threads poll 20 us before
#       blocking, skipping the kernel's wake-up); ref: tcp_pingpong's c1 with both of its sides
#       polling as long (cluster.ref.c1.spin); BENCH_SPIN=<us> sets it, 0 leaves it out
#   cluster.call.c64 calls_per_s=N ref=N ratio=R local_calls_per_s=N
#       64 coroutines; ref: tcp_pingpong c64, 64 connections with one request in flight each
#       (target: >= 100k calls/s); tcp_pingpong p64 (64 pipelined on one connection) beside it
#   cluster.call.mb1 mb_per_s=N ref=N ratio=R
#       1 MB arguments; ref: tcp_pingpong mb1 (target >= 300 MB/s)
#   cluster.call.during10mb p99_ms=X p50_ms=X ref_p99_ms=X small_calls=N transfers=N
#       small calls while 10 MB calls cross the same link; ref: tcp_pingpong c1's own p99
#       (target p99 <= 10 ms)
# The calling service and node b's .bench opt in to socket.inline (their messages run on the
# socket thread while they are idle), as the links always do; BENCH_INLINE=0 leaves those two on
# the workers.
# BENCH_FIGURES=c1,c64,mb1,during10mb,local (a subset) runs only those figures of the calls, for
# profiling one of them; the medians then list the others as empty.
# The reference runs on its own: until the skyhive side exists (lualib/skynet/cluster.lua and
# services/lua/clusterd.lua), or with BENCH_REFERENCE_ONLY=1, only the cluster.ref.* lines are
# printed; without BENCH_REFERENCE_ONLY the script then fails (exit 3) saying what is missing.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="$(cd "${1:-$root/build}" && pwd)"
runs="${2:-3}"
seconds="${BENCH_SECONDS:-2}"
work="$bench_work"
pingpong="$build/bench/cluster/tcp_pingpong"
if [ ! -x "$pingpong" ]; then
    echo "no $pingpong (cmake --build $build --target tcp_pingpong)" >&2
    exit 2
fi
missing=""
for f in lualib/skynet/cluster.lua services/lua/clusterd.lua; do
    [ -f "$root/$f" ] || missing="$missing $f"
done
ours=1
if [ -n "$missing" ] || [ "${BENCH_REFERENCE_ONLY:-}" = 1 ]; then
    ours=0
else
    skyhive="$(bench_skyhive "$build")"
    with_nodes="$build/test/support/with_nodes"
    if [ ! -x "$with_nodes" ]; then
        echo "no $with_nodes (cmake --build $build --target with_nodes)" >&2
        exit 2
    fi
fi

# Both nodes run this config; bench_cluster.lua takes its role from the node's name and opens
# the cluster with the static list of both nodes at the ports with_nodes gave them.
export BENCH_ARGS="$seconds"
bench_service_config "$work/config.lua" 0 bench_cluster cluster ""
spin="${BENCH_SPIN:-20}"
{ cat "$work/config.lua"; echo "socket_spin = $spin"; } > "$work/config-spin.lua"

ratio() {  # a b -> a / b with two decimals ("-" without a)
    if [ -z "$1" ] || [ "$1" = - ]; then echo -; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'
}
field() {  # file figure key -> the value of key=... on the figure's line
    awk -v f="$2" -v k="$3" '$1 == f { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$1"
}

results="$work/results"  # "<figure> <value> <reference> [more...]" per run
: > "$results"
echo "# load before: $(uptime)"
for run in $(seq "$runs"); do
    "$pingpong" "$seconds" 1 "$spin" > "$work/ref"
    c1="$(field "$work/ref" cluster.ref.c1 rtt_per_s)"
    c1spin="$(field "$work/ref" cluster.ref.c1.spin rtt_per_s)"
    p99_us="$(field "$work/ref" cluster.ref.c1 p99_us)"
    c64="$(field "$work/ref" cluster.ref.c64 rtt_per_s)"
    p64="$(field "$work/ref" cluster.ref.p64 rtt_per_s)"
    mb1="$(field "$work/ref" cluster.ref.mb1 mb_per_s)"
    sed "s/ (.*//; s/\$/ run=$run/" "$work/ref"
    ref_p99_ms="$(awk -v u="$p99_us" 'BEGIN {printf "%.3f", u / 1000}')"
    {
        echo "ref.c1 $c1 0"
        echo "ref.c1.p99_ms $ref_p99_ms 0"
        echo "ref.c64 $c64 0"
        echo "ref.p64 $p64 0"
        echo "ref.mb1 $mb1 0"
    } >> "$results"
    [ "$ours" = 1 ] || continue

    if ! "$with_nodes" --redis none --node "b=$work/config.lua" --self a \
            --ready "log:bench_cluster: serving" -- "$skyhive" "$work/config.lua" \
            > "$work/ours" 2> "$work/ours.err"; then
        echo "cluster_bench: the calls failed in run $run:" >&2
        tail -20 "$work/ours" "$work/ours.err" >&2
        exit 1
    fi
    get() { awk -v k="$1" -v c="${2:-2}" '$1 == k {print $c; exit}' "$work/ours"; }
    lc1="$(get local.c1)"; lc64="$(get local.c64)"
    cc1="$(get call.c1)"; cc64="$(get call.c64)"; cmb="$(get call.mb1)"
    p50="$(get call.during10mb 2)"; p99="$(get call.during10mb 3)"
    smalls="$(get call.during10mb 4)"; transfers="$(get call.during10mb 5)"
    echo "cluster.call.c1 calls_per_s=$cc1 ref=$c1 ratio=$(ratio "$cc1" "$c1") local_calls_per_s=$lc1 run=$run"
    if [ "$spin" != 0 ] && { [ -z "${BENCH_FIGURES:-}" ] || [[ ",$BENCH_FIGURES," == *,c1,* ]]; }; then
        if ! BENCH_FIGURES=c1 "$with_nodes" --redis none --node "b=$work/config-spin.lua" --self a \
                --ready "log:bench_cluster: serving" -- "$skyhive" "$work/config-spin.lua" \
                > "$work/ours-spin" 2> "$work/ours.err"; then
            echo "cluster_bench: the calls with socket_spin failed in run $run:" >&2
            tail -20 "$work/ours-spin" "$work/ours.err" >&2
            exit 1
        fi
        sc1="$(awk '$1 == "call.c1" {print $2; exit}' "$work/ours-spin")"
        echo "cluster.call.c1.spin calls_per_s=$sc1 ref=$c1spin ratio=$(ratio "$sc1" "$c1spin") socket_spin=$spin run=$run"
        echo "call.c1.spin ${sc1:--} $c1spin $(ratio "$sc1" "$c1spin")" >> "$results"
    fi
    echo "cluster.call.c64 calls_per_s=$cc64 ref=$c64 ratio=$(ratio "$cc64" "$c64") ref_p64=$p64 local_calls_per_s=$lc64 run=$run"
    echo "cluster.call.mb1 mb_per_s=$cmb ref=$mb1 ratio=$(ratio "$cmb" "$mb1") run=$run"
    echo "cluster.call.during10mb p99_ms=$p99 p50_ms=$p50 ref_p99_ms=$ref_p99_ms small_calls=$smalls transfers=$transfers run=$run"
    {   # ("-": a figure BENCH_FIGURES left out)
        echo "call.c1 ${cc1:--} $c1 ${lc1:--} $(ratio "$cc1" "$c1")"
        echo "call.c64 ${cc64:--} $c64 ${lc64:--}"
        echo "call.mb1 ${cmb:--} $mb1"
        echo "call.p99 ${p99:--} $ref_p99_ms"
        echo "call.p50 ${p50:--} 0"
    } >> "$results"
done
echo "# load after: $(uptime)"
echo "# medians of $runs runs"
median() {  # figure column -> the median of that column over the figure's runs ("-": none)
    awk -v k="$1" -v c="$2" '$1 == k && $c != "-"' "$results" > "$work/one"
    if [ -s "$work/one" ]; then bench_median "$2" "$work/one"; else echo -; fi
}
echo "cluster.ref.c1 rtt_per_s=$(median ref.c1 2) p99_ms=$(median ref.c1.p99_ms 2) (ref: tcp_pingpong, 1 connection, 1 request of 100 bytes in flight)"
echo "cluster.ref.c64 rtt_per_s=$(median ref.c64 2) (ref: tcp_pingpong, 64 connections, 1 request in flight each)"
echo "cluster.ref.p64 rtt_per_s=$(median ref.p64 2) (ref: tcp_pingpong, 1 connection, 64 requests in flight)"
echo "cluster.ref.mb1 mb_per_s=$(median ref.mb1 2) (ref: tcp_pingpong, 1 MB requests one at a time)"
if [ "$ours" = 0 ]; then
    if [ "${BENCH_REFERENCE_ONLY:-}" = 1 ]; then exit 0; fi
    echo "cluster_bench: the skyhive side is missing (no$missing): only the reference ran" >&2
    exit 3
fi
v="$(median call.c1 2)"; r="$(median call.c1 3)"
echo "cluster.call.c1 calls_per_s=$v ref=$r ratio=$(median call.c1 5) local_calls_per_s=$(median call.c1 4) (ref: tcp_pingpong c1; ratio: the median of the runs' own; target ratio >= 0.8)"
if grep -q "^call.c1.spin " "$results"; then
    v="$(median call.c1.spin 2)"; r="$(median call.c1.spin 3)"
    echo "cluster.call.c1.spin calls_per_s=$v ref=$r ratio=$(median call.c1.spin 4) socket_spin=$spin (the same, both nodes' socket threads polling $spin us before blocking; ref: tcp_pingpong c1 polling as long; ratio as for c1)"
fi
v="$(median call.c64 2)"; r="$(median call.c64 3)"
echo "cluster.call.c64 calls_per_s=$v ref=$r ratio=$(ratio "$v" "$r") local_calls_per_s=$(median call.c64 4) (ref: tcp_pingpong c64; target >= 100000 calls/s)"
v="$(median call.mb1 2)"; r="$(median call.mb1 3)"
echo "cluster.call.mb1 mb_per_s=$v ref=$r ratio=$(ratio "$v" "$r") (ref: tcp_pingpong mb1; target >= 300 MB/s)"
echo "cluster.call.during10mb p99_ms=$(median call.p99 2) p50_ms=$(median call.p50 2) ref_p99_ms=$(median call.p99 3) (ref: tcp_pingpong c1's p99 with no load; target p99 <= 10 ms)"
