#!/usr/bin/env bash
# Memory of a game node after a storm of transfers: does it follow the live set?
#   bench/game/game_memory.sh [build-dir] [runs] [clients] [seconds]
# Each run (default 3) starts a redis-server and two game nodes (as game_bench.sh does), reads
# node1's figures from its debug console, runs a storm (`clients` players, default 40, giving gold
# as fast as they can for `seconds`, default 6, with bench_game.lua), waits 2 s idle, and reads
# again: the world service's Lua memory and the process RSS, then the same after the console's
# `gc` (a full collection everywhere: the live set). Prints one line per run and the medians:
#   game.memory.c40 world_idle_kb=... world_live_kb=... rss_before_kb=... rss_idle_kb=...
#     rss_live_kb=... warnings=... (warnings: "Lua memory warning" lines in both nodes' logs)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="${1:-$root/build}"
runs="${2:-3}"
clients="${3:-40}"
seconds="${4:-6}"
skyhive="$(bench_skyhive "$build")"
bench_need nc
work="$bench_work"

# Runs one console command and prints its output (up to the <CMD OK> line).
console() {
    python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall((sys.argv[2] + "\n").encode())
buf = b""
while b"<CMD OK>" not in buf and b"<CMD Error>" not in buf:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode(errors="replace"))
PY
}
# The world's Lua memory in KB from `mem` output (the line naming "world").
world_kb() { awk '/snlua world/ {print $2; exit}' <<< "$1"; }
rss_kb() { awk '$1 == "rss" {printf "%d", $2 / 1024}' <<< "$1"; }

bench_start_redis
port="$redis_port"

bench_game_config "$work/bench.lua"

name="game.memory.c$clients"
results="$work/results"
: > "$results"
echo "# $clients players on 2 nodes, ${seconds}s storm; load before: $(uptime)"
for run in $(seq "$runs"); do
    redis-cli -p "$port" flushall >/dev/null
    game_ports=()
    console_port=""
    for n in 1 2; do
        gp="$(bench_free_port)"
        cp="$(bench_free_port)"
        game_ports+=("$gp")
        [ -z "$console_port" ] && console_port="$cp"
        cat > "$work/node$n.lua" <<CONF
include "$root/config/default.lua"
game = "127.0.0.1:$gp"
game_node = "node$n"
debug_console = "127.0.0.1:$cp"
admin = "127.0.0.1:0"
cluster_listen = "127.0.0.1:0"
redis = "127.0.0.1:$port"
CONF
        (cd "$root" && exec "$skyhive" "$work/node$n.lua" > "$work/node$n.log" 2>&1) &
        bench_track "$!"
    done
    for n in 1 2; do
        bench_wait_port "${game_ports[$((n - 1))]}" "$work/node$n.log"
    done
    rss_before="$(rss_kb "$(console "$console_port" cmem)")"
    out="$(cd "$root" && BENCH_ARGS="$port ${game_ports[0]},${game_ports[1]} $clients $seconds game" \
        "$skyhive" "$work/bench.lua" 2> "$work/bench.err" || true)"
    grep -q '^game.transfers' <<< "$out" || { echo "storm failed: $(tail -3 "$work/bench.err")" >&2; exit 1; }
    sleep 2  # idle: no client, no timer but the game's own
    mem="$(console "$console_port" mem)"
    idle_world="$(world_kb "$mem")"
    idle_rss="$(rss_kb "$(console "$console_port" cmem)")"
    live_world="$(world_kb "$(console "$console_port" gc)")"
    live_rss="$(rss_kb "$(console "$console_port" cmem)")"
    warnings="$(cat "$work"/node*.log | grep -c 'Lua memory warning' || true)"
    bench_stop_tracked
    echo "run$run $name world_idle_kb=$idle_world world_live_kb=$live_world rss_before_kb=$rss_before rss_idle_kb=$idle_rss rss_live_kb=$live_rss warnings=$warnings"
    echo "$idle_world $live_world $rss_before $idle_rss $live_rss $warnings" >> "$results"
done
median() { bench_median "$1" "$results"; }
echo "# load after: $(uptime)"
echo "# medians of $runs runs"
echo "$name world_idle_kb=$(median 1) world_live_kb=$(median 2) rss_before_kb=$(median 3) rss_idle_kb=$(median 4) rss_live_kb=$(median 5) warnings=$(median 6)"
