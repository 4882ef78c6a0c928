#!/usr/bin/env bash
# Instructions per give of a game node, counted by valgrind's callgrind: the figure of the game's
# own path that this noisy host cannot blur (transfers/s move by 2x from run to run here; this
# count by about 1%).
#   bench/game/count_instructions.sh [build-dir] [clients] [seconds]
# Starts a redis-server and one game node under callgrind (node1 of game_bench.sh's one-node
# figure: every player on it, so the path is gate -> agent -> world -> bank -> Redis), logs in
# `clients` players (default 8; bench/game/game_load, outside valgrind), lets them give for 2 s,
# logs them in again, zeroes the counters once they are in (GAME_LOAD_HOLD: the logins' password
# checks, scrypt at about 49 million instructions each, are not a give's work), lets them give
# for `seconds` (default 20) and prints the node's instructions (every thread) per give answered:
#   game.instr.c8 instr_per_give=395021 gives=6104 refused=176 total=...
# A give is refused when its giver has too little gold left (the players' gold drifts apart as
# they give at random) or a lock wait ran out ("busy"); it runs the same locks and script as a
# transfer, so the figure is per give, transfers and refusals together (per transfer it moved
# with the share of refusals, 1% to 7% from run to run). Under valgrind a message takes about
# fifty times as long, so the node runs with socket_inline_limit = 60000 (the agents and the
# world stay on the socket thread as they do at full speed) and worker_spin = 0 (a spinning
# worker's polls would be counted). What depends on time sees fifty times fewer events per period
# there: the lock board's 100 ms window (lock_board.lua) ends 74% of its leases unsent under
# valgrind, 99% at full speed.
# Callgrind's output stays in OUT_DIR when it is set (callgrind_annotate --inclusive=no FILE).
# Debian's shared liblua has no symbols; for the Lua VM's functions by name, configure a build
# that links the static one (see bench/redis/count_instructions.sh).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="${1:-$root/build}"
clients="${2:-8}"
seconds="${3:-20}"
skyhive="$(bench_skyhive "$build")"
game_load="$(cd "$build" && pwd)/bench/game/game_load"
[ -x "$game_load" ] || { echo "no $game_load (cmake --build $build --target game_load)" >&2; exit 2; }
bench_need valgrind callgrind_annotate callgrind_control redis-cli nc
work="$bench_work"
out="${OUT_DIR:-$work}"
mkdir -p "$out"
bench_start_redis
gp="$(bench_free_port)"
ap="$(bench_free_port)"
cat > "$work/node.lua" <<CONF
include "$root/config/default.lua"
game = "127.0.0.1:$gp"
game_node = "node1"
debug_console = "127.0.0.1:0"
admin = "127.0.0.1:$ap"
cluster_listen = "127.0.0.1:0"
redis = "127.0.0.1:$redis_port"
loglevel = "warn"
socket_inline_limit = 60000
worker_spin = 0
CONF
bench_game_config "$work/bench.lua" "redis = \"127.0.0.1:$redis_port\""

file="$out/callgrind.game.c$clients"
rm -f "$file" "$file".*
# Strings uncompressed: the dump after the zeroing is read on its own.
(cd "$root" && exec valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$file" "$skyhive" "$work/node.lua" > "$work/node.log" 2>&1) &
node=$!
bench_track "$node"
for _ in $(seq 600); do
    nc -z 127.0.0.1 "$gp" 2>/dev/null && break
    kill -0 "$node" 2>/dev/null || { echo "the node stopped:" >&2; tail -5 "$work/node.log" >&2; exit 1; }
    sleep 0.2
done
nc -z 127.0.0.1 "$gp" || { echo "the node did not listen in 120 s" >&2; exit 1; }

(cd "$root" && BENCH_ARGS="$redis_port $gp,$gp $clients 1 reset" "$skyhive" "$work/bench.lua" \
    > /dev/null 2> "$work/reset.err") || { echo "reset failed: $(tail -3 "$work/reset.err")" >&2; exit 1; }
"$game_load" "$gp,$gp" "$clients" 2 > "$work/warm.out" || { echo "warm-up failed" >&2; exit 1; }
# The counters are zeroed once the players are logged in again (a login's password check is not
# a give's work).
zero() { callgrind_control -z "$node" > /dev/null 2>&1; }
bench_held_load "$work/load.out" zero "$game_load" "$gp,$gp" "$clients" "$seconds" ||
    { echo "the counted run failed" >&2; exit 1; }
line="$(cat "$work/load.out")"
callgrind_control -d "$node" > /dev/null 2>&1
kill "$node"
wait "$node" 2>/dev/null || true

dump="$(ls "$file".* | head -1)"
total="$(awk '$1 == "summary:" {print $2}' "$dump")"
awk -v line="$line" -v t="$total" -v c="$clients" 'BEGIN {
    split(line, f, " "); n = f[7] + f[3]
    if (n <= 0) { print "count_instructions.sh: no gives counted" > "/dev/stderr"; exit 1 }
    printf "game.instr.c%d instr_per_give=%d gives=%d refused=%d total=%.0f\n", c, t / n, n, f[3], t
}'
