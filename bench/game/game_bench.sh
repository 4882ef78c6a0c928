#!/usr/bin/env bash
# Gold transfers per second between random players across two game nodes sharing one
# redis-server, all started here, against the same transfers done straight from one Lua service.
#   bench/game/game_bench.sh [build-dir] [runs] [clients] [seconds] [cluster]
# Each run (default 5) measures the game (`clients` players, default 20, half on each node, one
# give at a time each, for `seconds`, default 3) and then the reference: the same locks and script
# (services/game/bank.lua) from `clients` coroutines of one service on one Redis connection,
# i.e. the Redis work of a transfer without the gate, agents and world around it. Each figure
# runs in a process of its own, so that its CPU and Redis commands can be counted. Prints a line
# per run, then the medians:
#   game.transfers.c20 transfers_per_s=2100 ref=2600 ratio=0.81 (ref: ...)
#   game.latency_p50.c20 us=... ref=...       game.latency_p99.c20 us=... ref=...
#   game.msgs.c20 per_transfer=... ref=... ratio=...     (likewise game.redis_cmds, game.cpu_us)
# The latency is a command's, measured by the clients (write of the give to its reply; ref: one
# bank.give). The cost is per transfer, and counts what load does not change: service messages
# (game: both nodes', from their admin endpoints; ref: the reference process's) and Redis
# commands sent (the same processes' clients; every command is a round trip or part of a
# pipeline), and the CPU of everything on the path (game: both nodes, the client process and
# redis-server; ref: the reference process and redis-server). GAME_BENCH_COMMANDS=1 also prints
# (on stderr, one server only) the Redis commands per transfer by name, scripts' included, and
# the CPU per transfer of the nodes, the client process and Redis apart. GAME_BENCH_ONE_NODE=1
# logs every client in to the first node (see client_ports).
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
bench_need nc curl
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
admin_ports=()
for n in 1 2; do
    gp="$(bench_free_port)"
    game_ports+=("$gp")
    ap="$(bench_free_port)"
    admin_ports+=("$ap")
    cat > "$work/node$n.lua" <<CONF
include "$root/config/default.lua"
game = "127.0.0.1:$gp"
game_node = "node$n"
debug_console = "127.0.0.1:0"
admin = "127.0.0.1:$ap"
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

# CPU seconds of the game nodes (every thread) and of the redis-server(s), the commands
# the Redis has processed (a cluster's: every node's; scripts' commands included), and the
# service messages and Redis commands sent of both nodes, as "nodes redis commands msgs sent".
node_pids=("${bench_pids[@]}")
counters() {
    local nodes=0 pid f ports p info rcpu=0 rcmds=0 ap state msgs=0 sent=0
    for pid in "${node_pids[@]}"; do
        for f in /proc/"$pid"/task/*/schedstat; do
            nodes=$((nodes + $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)))
        done
    done
    if [ "$mode" = cluster ]; then ports="$SKYHIVE_TEST_CLUSTER_PORTS"; else ports="$port"; fi
    for p in $ports; do
        info="$(redis-cli -p "$p" info all | tr -d '\r')"
        rcpu="$(awk -F: -v s="$rcpu" '$1 == "used_cpu_sys" || $1 == "used_cpu_user" {s += $2}
            END {print s}' <<< "$info")"
        rcmds=$((rcmds + $(awk -F: '$1 == "total_commands_processed" {print $2}' <<< "$info")))
    done
    for ap in "${admin_ports[@]}"; do
        state="$(curl -sf "http://127.0.0.1:$ap/api/state" | python3 -c '
import json, sys
t = json.load(sys.stdin)["totals"]
print(int(t.get("messages", 0)), int(t.get("redis_commands", 0)))')"
        msgs=$((msgs + ${state% *}))
        sent=$((sent + ${state#* }))
    done
    echo "$(awk -v n="$nodes" 'BEGIN {printf "%.6f", n / 1e9}') $rcpu $rcmds $msgs $sent"
}

# The nodes the clients log in to: both, or with GAME_BENCH_ONE_NODE=1 node1 alone (the other
# node runs idle), which leaves out what crossing nodes costs (the cluster calls with the news,
# the lock hand-offs between the two worlds by pub/sub).
client_ports="${game_ports[0]},${game_ports[1]}"
[ -n "${GAME_BENCH_ONE_NODE:-}" ] && client_ports="${game_ports[0]},${game_ports[0]}"

# One figure (game or ref) in a process of its own -> "per_s p50_us p99_us, then per transfer
# msgs redis_cmds cpu_us" (game: the nodes' messages and commands; ref: the reference
# process's; CPU: the nodes', the bench process's and Redis's); exits on failure.
figure() {
    local which="$1" out before after line
    [ -n "${GAME_BENCH_COMMANDS:-}" ] && redis-cli -p "$port" config resetstat > /dev/null
    before="$(counters)"
    out="$(cd "$root" && BENCH_ARGS="$port $client_ports $clients $seconds $which" \
        "$skyhive" "$work/bench.lua" 2> "$work/bench.err" || true)"
    after="$(counters)"
    line="$(awk -v w="$which.transfers" '$1 == w' <<< "$out")"
    if [ -z "$line" ]; then
        echo "$name failed ($which): $(tail -3 "$work/bench.err") $(tail -3 "$work/node1.log")" >&2
        exit 1
    fi
    if [ -n "${GAME_BENCH_COMMANDS:-}" ]; then
        # Redis commands per transfer by name (one server), on stderr.
        redis-cli -p "$port" info commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$(awk '{print $7}' <<< "$line")" \
            -v w="$which" '/^cmdstat_/ {printf "# %s %s %.2f per transfer\n", w, substr($1, 9), $3 / n}' >&2
        awk -v b="$before" -v a="$after" -v w="$which" '{
            split(b, x, " "); split(a, y, " "); n = $7 > 0 ? $7 : 1
            printf "# %s cpu_us per transfer: nodes %.0f client %.0f redis %.0f\n", w,
                (y[1] - x[1]) * 1e6 / n, $6 * 1e6 / n, (y[2] - x[2]) * 1e6 / n
        }' <<< "$line" >&2
    fi
    awk -v b="$before" -v a="$after" -v w="$which" '{
        split(b, x, " "); split(a, y, " "); n = $7 > 0 ? $7 : 1
        msgs = w == "game" ? y[4] - x[4] : $8
        cmds = w == "game" ? y[5] - x[5] : $9
        printf "%s %s %s %.1f %.2f %.0f\n", $2, $4, $5, msgs / n, cmds / n,
            ((y[1] - x[1]) + (y[2] - x[2]) + $6) * 1e6 / n
    }' <<< "$line"
}

name="game.transfers.c$clients${mode:+.$mode}"
suffix="c$clients${mode:+.$mode}"
results="$work/results"
: > "$results"
echo "# $clients players on 2 nodes, ${seconds}s per figure; load before: $(uptime)"
for run in $(seq "$runs"); do
    read -r game gp50 gp99 gmsgs gcmds gcpu <<< "$(figure game)"
    read -r ref rp50 rp99 rmsgs rcmds rcpu <<< "$(figure ref)"
    ratio="$(awk -v a="$game" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
    echo "run$run $name transfers_per_s=$game ref=$ref ratio=$ratio p50_us=$gp50 p99_us=$gp99" \
        "ref_p50_us=$rp50 ref_p99_us=$rp99 msgs=$gmsgs ref_msgs=$rmsgs redis_cmds=$gcmds" \
        "ref_redis_cmds=$rcmds cpu_us=$gcpu ref_cpu_us=$rcpu"
    echo "$game $ref $gp50 $gp99 $rp50 $rp99 $gcmds $rcmds $gcpu $rcpu $gmsgs $rmsgs" >> "$results"
done
m() { bench_median "$1" "$results"; }
game="$(m 1)"
ref="$(m 2)"
ratio="$(awk -v a="$game" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
echo "# load after: $(uptime)"
echo "# medians of $runs runs"
echo "$name transfers_per_s=$game ref=$ref ratio=$ratio (ref: the same locks and script from one Lua service, $clients coroutines)"
echo "game.latency_p50.$suffix us=$(m 3) ref=$(m 5) (one command as its client sees it, under this load)"
echo "game.latency_p99.$suffix us=$(m 4) ref=$(m 6)"
per() {
    local a b
    a="$(m "$2")"
    b="$(m "$3")"
    echo "game.$1.$suffix per_transfer=$a ref=$b ratio=$(awk -v a="$a" -v b="$b" \
        'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}') ($4)"
}
per msgs 11 12 "service messages: both nodes' against the reference process's"
per redis_cmds 7 8 "Redis commands sent"
per cpu_us 9 10 "CPU of the nodes, the client process and Redis against the reference process and Redis"
