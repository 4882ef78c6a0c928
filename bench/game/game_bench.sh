#!/usr/bin/env bash
# Gold transfers per second between random players of two game nodes sharing one redis-server,
# all started here, against the same transfers done straight from one Lua service.
#   bench/game/game_bench.sh [build-dir] [runs] [clients] [seconds] [cluster]
# Each run (default 5) measures three figures, each for `seconds` (default 3):
#   the game on two nodes: `clients` players (default 20), half on each node, one give at a time
#       each, to random players of the set (half of the gives cross nodes);
#   the game on one node: the same players all on the first node (the second runs idle), i.e.
#       the path gate -> agent -> world -> bank -> Redis without what crossing nodes adds (the
#       lock hand-offs between the two worlds and the news, by pub/sub);
#   the reference: the same locks and script (services/game/bank.lua) from `clients` coroutines
#       of one service on one Redis connection, i.e. the Redis work of a transfer without the
#       gate, agents and world around it.
# Each figure runs in a process of its own, so that its CPU and Redis commands can be counted.
# Prints a line per run, then the medians:
#   game.transfers.c20 transfers_per_s=2100 ref=2600 ratio=0.81 (ref: ...)     (two nodes; the
#       ratio is the median of the runs' own ratios, the rates medians of their own)
#   game.transfers.one_node.c20 transfers_per_s=... ref=... ratio=...
#   game.latency_p50.c20 us=... ref=...       game.latency_p99.c20 us=... ref=...   (and one_node)
#   game.msgs.c20 per_transfer=... ref=... ratio=...     (likewise game.redis_cmds, game.cpu_us;
#                                                          and one_node)
# The latency is a command's, measured by the clients (write of the give to its reply; ref: one
# bank.give). The cost is per transfer (its counters are read once the players are logged in:
# game_load holds there), and counts what load does not change: service messages
# (game: both nodes', from their admin endpoints; ref: the reference process's) and Redis
# commands sent (the same processes' clients; every command is a round trip or part of a
# pipeline), and the CPU of everything on the path (game: both nodes, the client process and
# redis-server; ref: the reference process and redis-server). GAME_BENCH_COMMANDS=1 also prints
# (on stderr, one server only) the Redis commands per transfer by name, scripts' included, and
# the CPU per transfer of the nodes, the client process and Redis apart, and Redis's reads and
# writes (system calls on its clients' sockets) per transfer. GAME_BENCH_NODE_CONFIG
# is added to both nodes' config (e.g. "worker_spin = 0"). The players are a C++ client
# (bench/game/game_load); GAME_BENCH_CLIENT=lua plays them from a Lua service as before.
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
${GAME_BENCH_NODE_CONFIG:-}
CONF
    (cd "$root" && exec "$skyhive" "$work/node$n.lua" > "$work/node$n.log" 2>&1) &
    bench_track "$!"
done
for n in 1 2; do
    bench_wait_port "${game_ports[$((n - 1))]}" "$work/node$n.log"
done

bench_game_config "$work/bench.lua" "$where"

# The ports of the redis-server(s): the one server, or every node of the cluster.
redis_ports() {
    if [ "$mode" = cluster ]; then echo "$SKYHIVE_TEST_CLUSTER_PORTS"; else echo "$port"; fi
}

# CPU seconds of the game nodes (every thread) and of the redis-server(s), the commands
# the Redis has processed (a cluster's: every node's; scripts' commands included), and the
# service messages and Redis commands sent of both nodes, as "nodes redis commands msgs sent".
node_pids=("${bench_pids[@]}")
counters() {
    local nodes=0 pid f p info rcpu=0 rcmds=0 ap state msgs=0 sent=0
    for pid in "${node_pids[@]}"; do
        for f in /proc/"$pid"/task/*/schedstat; do
            nodes=$((nodes + $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)))
        done
    done
    for p in $(redis_ports); do
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

# The game figure's players: bench/game/game_load (C++, one thread; its players' reset runs
# before it in bench_game.lua), or with GAME_BENCH_CLIENT=lua bench_game.lua's own (a node of
# its own with two workers, which took 36-54 us of the two cores per transfer).
client="${GAME_BENCH_CLIENT:-cpp}"
game_load="$(cd "$build" && pwd)/bench/game/game_load"
if [ "$client" = cpp ] && [ ! -x "$game_load" ]; then
    echo "no $game_load (cmake --build $build --target game_load)" >&2
    exit 2
fi

# The nodes the clients log in to: both (player i to node i % 2), or node1 alone.
two_nodes="${game_ports[0]},${game_ports[1]}"
one_node="${game_ports[0]},${game_ports[0]}"

# One figure in a process of its own: game or ref, the game ports the players log in to, and a
# label for GAME_BENCH_COMMANDS's lines -> "per_s p50_us p99_us, then per transfer msgs
# redis_cmds cpu_us" (game: the nodes' messages and commands; ref: the reference process's;
# CPU: the nodes', the bench process's and Redis's); exits on failure.
figure() {
    local which="$1" client_ports="$2" label="$3" out before after line
    if [ -n "${GAME_BENCH_COMMANDS:-}" ]; then
        for p in $(redis_ports); do redis-cli -p "$p" config resetstat > /dev/null; done
    fi
    if [ "$which" = game ] && [ "$client" = cpp ]; then
        (cd "$root" && BENCH_ARGS="$port $client_ports $clients $seconds reset" \
            "$skyhive" "$work/bench.lua" > /dev/null 2> "$work/bench.err") ||
            { echo "$name failed (reset): $(tail -3 "$work/bench.err")" >&2; exit 1; }
        # The counters are read once the players are logged in: a login's password check
        # (scrypt) is not a transfer's work, and the reference logs nobody in.
        take_before() { before="$(counters)"; }
        bench_held_load "$work/load.out" take_before \
            "$game_load" "$client_ports" "$clients" "$seconds" 2> "$work/bench.err" || true
        out="$(cat "$work/load.out")"
    else
        before="$(counters)"
        out="$(cd "$root" && BENCH_ARGS="$port $client_ports $clients $seconds $which" \
            "$skyhive" "$work/bench.lua" 2> "$work/bench.err" || true)"
    fi
    after="$(counters)"
    line="$(awk -v w="$which.transfers" '$1 == w' <<< "$out")"
    if [ -z "$line" ]; then
        echo "$name failed ($label): $(tail -3 "$work/bench.err") $(tail -3 "$work/node1.log")" >&2
        exit 1
    fi
    if [ -n "${GAME_BENCH_COMMANDS:-}" ]; then
        # Redis commands per transfer by name, and reads and writes (a cluster's: all nodes'
        # summed), on stderr.
        for p in $(redis_ports); do redis-cli -p "$p" info commandstats; done | tr -d '\r' |
            awk -F'[:=,]' -v n="$(awk '{print $7}' <<< "$line")" -v w="$label" '
                /^cmdstat_/ {c[substr($1, 9)] += $3}
                END {for (k in c) printf "# %s %s %.2f per transfer\n", w, k, c[k] / n}' |
            sort >&2
        for p in $(redis_ports); do redis-cli -p "$p" info stats; done | tr -d '\r' |
            awk -F: -v n="$(awk '{print $7}' <<< "$line")" -v w="$label" '
                $1 == "total_reads_processed" {r += $2} $1 == "total_writes_processed" {x += $2}
                END {printf "# %s redis reads %.2f writes %.2f per transfer\n", w, r / n, x / n}' >&2
        awk -v b="$before" -v a="$after" -v w="$label" '{
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
echo "# $clients players, on 2 nodes and on 1, ${seconds}s per figure; load before: $(uptime)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
for run in $(seq "$runs"); do
    read -r game gp50 gp99 gmsgs gcmds gcpu <<< "$(figure game "$two_nodes" game)"
    read -r one op50 op99 omsgs ocmds ocpu <<< "$(figure game "$one_node" game_one_node)"
    read -r ref rp50 rp99 rmsgs rcmds rcpu <<< "$(figure ref "$two_nodes" ref)"
    echo "run$run $name transfers_per_s=$game one_node=$one ref=$ref ratio=$(ratio "$game" "$ref")" \
        "one_node_ratio=$(ratio "$one" "$ref") p50_us=$gp50 p99_us=$gp99 one_node_p50_us=$op50" \
        "one_node_p99_us=$op99 ref_p50_us=$rp50 ref_p99_us=$rp99 msgs=$gmsgs one_node_msgs=$omsgs" \
        "ref_msgs=$rmsgs redis_cmds=$gcmds one_node_redis_cmds=$ocmds ref_redis_cmds=$rcmds" \
        "cpu_us=$gcpu one_node_cpu_us=$ocpu ref_cpu_us=$rcpu"
    echo "$game $ref $gp50 $gp99 $rp50 $rp99 $gcmds $rcmds $gcpu $rcpu $gmsgs $rmsgs" \
        "$one $op50 $op99 $ocmds $ocpu $omsgs $(ratio "$game" "$ref") $(ratio "$one" "$ref")" \
        >> "$results"
done
m() { bench_median "$1" "$results"; }
echo "# load after: $(uptime)"
echo "# medians of $runs runs"
# The medians of one game figure (two nodes or one): its name's infix, then the columns of its
# rate, p50, p99, Redis commands, CPU, messages and its runs' own ratios in the results. The
# ratio is the median of the runs' ratios (each against the reference of its own run: the host's
# noise moves both together), not the ratio of two medians that may come from different runs.
medians() {
    local infix="$1" game ref a b
    game="$(m "$2")"
    ref="$(m 2)"
    echo "game.transfers$infix.$suffix transfers_per_s=$game ref=$ref ratio=$(m "$8")" \
        "(ref: the same locks and script from one Lua service, $clients coroutines)"
    echo "game.latency_p50$infix.$suffix us=$(m "$3") ref=$(m 5) (one command as its client" \
        "sees it, under this load)"
    echo "game.latency_p99$infix.$suffix us=$(m "$4") ref=$(m 6)"
    a="$(m "$7")"
    b="$(m 12)"
    echo "game.msgs$infix.$suffix per_transfer=$a ref=$b ratio=$(ratio "$a" "$b") (service" \
        "messages: the nodes' against the reference process's)"
    a="$(m "$5")"
    b="$(m 8)"
    echo "game.redis_cmds$infix.$suffix per_transfer=$a ref=$b ratio=$(ratio "$a" "$b") (Redis" \
        "commands sent)"
    a="$(m "$6")"
    b="$(m 10)"
    echo "game.cpu_us$infix.$suffix per_transfer=$a ref=$b ratio=$(ratio "$a" "$b") (CPU of the" \
        "nodes, the client process and Redis against the reference process and Redis)"
}
medians "" 1 3 4 7 9 11 19
medians ".one_node" 13 14 15 16 17 18 20
