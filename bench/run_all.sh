#!/usr/bin/env bash
# Runs every benchmark of the project and prints one table: each figure, its reference measured
# in the same run, and the ratio, under a line describing the machine.
#   bench/run_all.sh [build-dir] [runs]
# build-dir (default build) must have the benchmarks built:
#   cmake --build build -j2 --target skyhive core_bench echo_bench lua_echo_bench gate_bench \
#       lua_bench seri_bench resp_bench metrics_bench with_cluster with_nodes tcp_pingpong \
#       http_bench game_load
# runs (default 3) is passed to the script benchmarks that take medians over runs. A benchmark
# whose program is missing or that fails shows as a row saying so; the others still run.
# Each benchmark's full output is kept in $BENCH_LOGS (default: a temporary directory, printed).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
runs="${2:-3}"
logs="${BENCH_LOGS:-$(mktemp -d)}"
mkdir -p "$logs"
cd "$root"

# name | program (relative to the build dir, or a script) | arguments
benchmarks=(
    "core|bench/core/core_bench|"
    "net|bench/net/echo_bench|"
    "socket|bench/socket/lua_echo_bench|"
    "gate|bench/gate/gate_bench|"
    "http|bench/http/http_bench|"
    "lua|bench/lua/lua_bench|"
    "seri|bench/lua/seri_bench|"
    "resp|bench/redis/resp_bench|"
    "metrics|bench/metrics/metrics_bench|"
    "redis|$root/bench/redis/redis_client_bench.sh|$build $runs"
    "redis_metrics|$root/bench/redis/metrics_cost.sh|$build"
    "lock|$root/bench/redis/lock_bench.sh|$build $runs"
    "cluster|$root/bench/redis/cluster_bench.sh|$build $runs"
    "sentinel|$root/bench/sentinel/sentinel_bench.sh|$build $runs"
    "game|$root/bench/game/game_bench.sh|$build $runs"
    "cluster_calls|$root/bench/cluster/cluster_bench.sh|$build $runs"
    "admin|$root/bench/admin/admin_bench.sh|$build"
)

machine() {
    local cpu
    cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "Machine: ${cpu:-unknown CPU}, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr), $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-}")"
    echo "Commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Figure lines of one benchmark's output -> table rows. A figure line starts with a dotted name;
# per-run lines ("run3 ...", "... run=3") and comments are left out, as scripts end with medians.
rows() {
    awk '
    $1 ~ /^[a-z]+\.[A-Za-z0-9_.]+$/ && $0 !~ / run=[0-9]+/ {
        value = ""; ref = ""; ratio = ""
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^\(/) break
            n = index($i, "=")
            if (n == 0) {
                if (value == "" && $i ~ /^[0-9.]+$/ && i + 1 <= NF) { value = $i " " $(i + 1); i++ }
                continue
            }
            k = substr($i, 1, n - 1); v = substr($i, n + 1)
            if (k == "ratio") ratio = v
            else if (k ~ /^ref/) ref = (k == "ref" ? v : k "=" v)
            else if (value == "") value = k "=" v
        }
        printf "| %s | %s | %s | %s |\n", $1, value, ref, ratio
    }'
}

echo "# logs in $logs" >&2
table="$logs/table.md"
{
    machine
    echo
    echo "| figure | value | reference (same run) | ratio |"
    echo "|---|---|---|---|"
} > "$table"
for entry in "${benchmarks[@]}"; do
    IFS='|' read -r name program args <<< "$entry"
    [[ "$program" = /* ]] || program="$build/$program"
    if [ ! -x "$program" ]; then
        echo "| $name | not built ($program) | | |" >> "$table"
        continue
    fi
    echo "# running $name: $program $args" >&2
    # shellcheck disable=SC2086
    "$program" $args > "$logs/$name.log" 2> "$logs/$name.err"
    status=$?
    found="$(rows < "$logs/$name.log")"
    if [ -n "$found" ]; then
        echo "$found" >> "$table"
    fi
    if [ $status -ne 0 ] || [ -z "$found" ]; then
        echo "| $name | failed (exit $status; see $logs/$name.err) | | |" >> "$table"
    fi
done
echo "Load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$table"
cat "$table"
