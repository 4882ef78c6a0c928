#!/usr/bin/env bash
# The Sentinel demo's topology: a master, 2 replicas and 3 sentinels (quorum 2, down-after
# 1000 ms, failover-timeout 5000 ms) in a temporary directory, a program run beside them, and
# everything stopped when the program ends (or on Ctrl-C / SIGTERM, passed on to it).
#   sentinel-demo/topology.sh [--ports M,R,R,S,S,S] <program> [args...]
# Without --ports every process takes a free loopback port. Once the sentinels know each other
# and both replicas are in sync, the program runs with
#   SENTINEL_DEMO_SENTINEL_PORTS  the sentinels' ports ("26379,26380,26381")
#   SENTINEL_DEMO_MASTER          the master's name ("mymaster")
#   SENTINEL_DEMO_REDIS_PORTS     the data servers' ports, the first master first
# and the script exits with its status. Needs redis-server, redis-sentinel and redis-cli.
set -eu

name=mymaster
ports=()
if [ "${1:-}" = --ports ]; then
    IFS=, read -r -a ports <<<"$2"
    shift 2
    [ ${#ports[@]} -eq 6 ] || { echo "$0: --ports needs 6 ports (master, 2 replicas, 3 sentinels)" >&2; exit 2; }
fi
[ $# -gt 0 ] || { echo "usage: $0 [--ports M,R,R,S,S,S] <program> [args...]" >&2; exit 2; }
for tool in redis-server redis-sentinel redis-cli; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is not on PATH (bash scripts/setup.sh)" >&2; exit 2; }
done

dir="$(mktemp -d "${TMPDIR:-/tmp}/sentinel-demo.XXXXXX")"
pids=()
child=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    { for pid in "${pids[@]}"; do wait "$pid" || true; done; } 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 130' INT TERM

# A port nothing listens on (a race with other programs is possible: start() then fails and
# picks another).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# start <index> <redis-server|redis-sentinel> <config lines...>: writes the config, starts the
# process on ports[index] (or a free port), and waits until it answers PING; sets $port.
start() {
    local i=$1 prog=$2
    shift 2
    for _ in 1 2 3 4 5; do
        port=${ports[$i]:-$(free_port)}
        local d="$dir/$port"
        mkdir -p "$d"
        {
            printf 'port %s\nbind 127.0.0.1\ndir %s\nlogfile %s/server.log\nprotected-mode no\n' \
                "$port" "$d" "$d"
            printf '%s\n' "$@"
        } >"$d/$prog.conf"
        "$prog" "$d/$prog.conf" &
        local pid=$!
        pids+=("$pid")
        local tries
        for tries in $(seq 100); do
            redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        [ -z "${ports[$i]:-}" ] || break
    done
    echo "$0: $prog did not start on port $port: $(tail -n 3 "$dir/$port/server.log" 2>/dev/null)" >&2
    exit 1
}

data_ports=()
sentinel_ports=()
for i in 0 1 2; do
    extra=()
    [ "$i" -eq 0 ] || extra=("replicaof 127.0.0.1 ${data_ports[0]}")
    # Full syncs start at once (the default waits 5 s for more replicas to join a diskless one).
    start "$i" redis-server 'save ""' "appendonly no" "repl-diskless-sync-delay 0" "${extra[@]}"
    data_ports+=("$port")
done
for i in 3 4 5; do
    start "$i" redis-sentinel "sentinel monitor $name 127.0.0.1 ${data_ports[0]} 2" \
        "sentinel down-after-milliseconds $name 1000" "sentinel failover-timeout $name 5000" \
        "sentinel parallel-syncs $name 2"
    sentinel_ports+=("$port")
done

# Ready: every sentinel names the master, knows the 2 other sentinels and 2 replicas, and the
# master has both replicas online.
ready() {
    local s
    for s in "${sentinel_ports[@]}"; do
        local m
        m="$(redis-cli -p "$s" sentinel master "$name" 2>/dev/null)" || return 1
        [ "$(sed -n '/^flags$/{n;p}' <<<"$m")" = master ] || return 1
        [ "$(sed -n '/^num-other-sentinels$/{n;p}' <<<"$m")" -ge 2 ] || return 1
        [ "$(sed -n '/^num-slaves$/{n;p}' <<<"$m")" -ge 2 ] || return 1
    done
    [ "$(redis-cli -p "${data_ports[0]}" info replication | grep -c 'state=online')" -ge 2 ]
}
for tries in $(seq 600); do
    ready && break
    [ "$tries" -lt 600 ] || { echo "$0: the topology was not ready after 30 s" >&2; exit 1; }
    sleep 0.05
done

join() { local IFS=,; echo "$*"; }
SENTINEL_DEMO_SENTINEL_PORTS="$(join "${sentinel_ports[@]}")"
SENTINEL_DEMO_REDIS_PORTS="$(join "${data_ports[@]}")"
SENTINEL_DEMO_MASTER=$name
export SENTINEL_DEMO_SENTINEL_PORTS SENTINEL_DEMO_REDIS_PORTS SENTINEL_DEMO_MASTER
"$@" &
child=$!
status=0
# (The shell's own stderr is muted while it waits: the demo kills the master with SIGKILL, and
# bash would report that as a "Killed" job.)
{ wait "$child" || status=$?; } 2>/dev/null
child=
exit "$status"
