#!/usr/bin/env bash
# Instructions per Redis command of the Lua client, counted by valgrind's callgrind: the figure
# this noisy host cannot blur (its speed moves by 2x within an hour; instruction counts move by
# about 1%).
#   bench/redis/count_instructions.sh [build-dir] [scenario] [short] [long]
# Runs bench_redis.lua's scenario (c1, co50, p16, p16b or c50p16; default p16) with fresh keys twice
# under callgrind, `short` and `long` requests of SET and then of GET (defaults by scenario),
# against one redis-server started here, and prints the difference of the two runs' totals per
# command between them, so that start-up, the key draw and the stop cancel out:
#   redis.instr.p16 instr_per_cmd=5084 short=16000 long=64000 total_short=... total_long=...
# The node: thread = 2, worker_spin = 0 (a spinning worker's polls would be counted), and
# socket_inline_limit = 60000: under valgrind a message takes 50 times as long, and at the
# default 10 ms the bench service would leave the socket thread for the workers during the run,
# which then counts another path. Both runs draw the same number of keys (BENCH_DRAWS, default
# 4096, at most the short run's requests; the benchmark itself draws 2^18, a live set past
# lua_gc_incremental_kb that moves its service to the incremental collector).
# Callgrind's output files stay in OUT_DIR when it is set, for callgrind_annotate (per function:
# `callgrind_annotate --inclusive=no FILE`, or two files' difference by hand). Debian's shared
# liblua has no symbols; for the Lua VM's functions by name, configure a build that links the
# static one: cmake -S . -B DIR -DSKYHIVE_BUILD_TESTS=OFF \
#   -Dpkgcfg_lib_LUA_lua5.4=/usr/lib/x86_64-linux-gnu/liblua5.4.a
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="${1:-$root/build}"
scenario="${2:-p16}"
case "$scenario" in
    c1) short=4000; long=12000 ;;
    co50) short=20000; long=60000 ;;
    p16 | p16b) short=16000; long=64000 ;;
    c50p16) short=32000; long=96000 ;;
    *) echo "count_instructions.sh: scenario $scenario is not known (c1, co50, p16, p16b, c50p16)" >&2
       exit 2 ;;
esac
short="${3:-$short}"
long="${4:-$long}"
# A phase draws min(requests, draws) keys: no more than the short run's requests, or the long
# run would draw more and its draw would count as the commands' work.
draws="${BENCH_DRAWS:-4096}"
[ "$draws" -le "$short" ] || draws="$short"
skyhive="$(bench_skyhive "$build")"
bench_need valgrind callgrind_annotate redis-cli
bench_start_redis
port="$redis_port"
out="${OUT_DIR:-$bench_work}"
mkdir -p "$out"

bench_redis_config "$bench_work/config.lua" "worker_spin = 0" "socket_inline_limit = 60000"

count() {  # requests -> the run's total instructions (all threads)
    local n="$1" file="$out/callgrind.$scenario.$1"
    redis-cli -p "$port" flushall > /dev/null
    BENCH_DRAWS="$draws" BENCH_INLINE=1 BENCH_ARGS="$scenario $n $port 1 socket varied 1000000000" \
        valgrind --tool=callgrind --callgrind-out-file="$file" "$skyhive" "$bench_work/config.lua" \
        > "$bench_work/run.$n.log" 2>&1 || {
        echo "count_instructions.sh: the run of $n requests failed:" >&2
        grep -v "^==" "$bench_work/run.$n.log" | tail -5 >&2
        exit 1
    }
    grep -q "^$scenario.get " "$bench_work/run.$n.log" || {
        echo "count_instructions.sh: the run of $n requests printed no figure:" >&2
        grep -v "^==" "$bench_work/run.$n.log" | tail -5 >&2
        exit 1
    }
    callgrind_annotate --auto=no "$file" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}

total_short="$(count "$short")"
total_long="$(count "$long")"
# SET and GET phases: twice the requests.
awk -v s="$total_short" -v l="$total_long" -v ns="$short" -v nl="$long" -v name="$scenario" \
    'BEGIN {printf "redis.instr.%s instr_per_cmd=%d short=%d long=%d total_short=%.0f total_long=%.0f\n",
            name, (l - s) / ((nl - ns) * 2), ns, nl, s, l}'
