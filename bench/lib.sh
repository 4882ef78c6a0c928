# The shared preamble of the benchmark scripts: sourced, not run.
#   . "$(dirname "$0")/../lib.sh"
# Sets bench_root (the repository root, absolute) and bench_work (a temporary directory), and
# installs one EXIT trap that stops what the script started through these functions (processes
# it tracked, the redis-server) and removes bench_work. A script that needs more at exit defines
# bench_on_exit, which the trap calls first.
#
#   bench_skyhive BUILD_DIR      print the skyhive binary of BUILD_DIR (absolute); exit 2 if it
#                                is missing
#   bench_need COMMAND...        exit 2 naming the first COMMAND that is not installed
#   bench_free_port              print a free TCP port on 127.0.0.1
#   bench_wait_port PORT [LOG]   wait (up to 10 s) until 127.0.0.1:PORT accepts; else exit 1,
#                                printing the end of LOG
#   bench_start_redis [ARG...]   start a redis-server on a free port (no persistence, files in
#                                bench_work, extra ARGs passed on) and wait until it answers
#                                PING; sets redis_port
#   bench_track PID              stop PID at exit (or at bench_stop_tracked)
#   bench_stop_tracked           stop the tracked processes now and wait for them
#   bench_median COLUMN FILE     print the median of COLUMN over the lines of FILE
#   bench_service_config FILE HARBOR SERVICE DIRS EXTRA_LUA_PATH [LINE...]
#                                write the config of a node that starts SERVICE (bench/DIR/
#                                SERVICE.lua, for DIR the first of the space-separated DIRS;
#                                the others are searched for services too) with the arguments
#                                in $BENCH_ARGS, two workers, warnings only, plus the given
#                                config lines (the two below are its uses, and most scripts')
#   bench_redis_config FILE [LINE...]
#                                write the config of a node that runs bench/redis/bench_redis.lua
#                                with the arguments in $BENCH_ARGS (two workers, warnings only),
#                                plus the given config lines
#   bench_game_config FILE [LINE...]
#                                the same for bench/game/bench_game.lua (the game figure's
#                                players, its reset and its reference)
#   bench_held_load OUT CALLBACK PROGRAM [ARG...]
#                                run bench/game/game_load (PROGRAM ARGS) held after its logins
#                                (GAME_LOAD_HOLD), its output to OUT; call CALLBACK once it is
#                                logged in, then let it give and wait for it; status 1 when it
#                                stopped before it was ready, else its own

bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_work="$(mktemp -d)"
bench_pids=()
redis_port=""

bench_stop_tracked() {
    local pid
    for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    bench_pids=()
}

bench_exit() {
    if declare -F bench_on_exit >/dev/null; then bench_on_exit || true; fi
    bench_stop_tracked
    if [ -f "$bench_work/redis.pid" ]; then
        # The server is daemonised (not our child): wait for it to go (at most 5 s) before the
        # directory it writes in is removed.
        local rpid i
        rpid="$(cat "$bench_work/redis.pid")"
        kill "$rpid" 2>/dev/null || true
        for i in $(seq 100); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -rf "$bench_work"
}
trap bench_exit EXIT

bench_skyhive() {
    if [ ! -x "$1/skyhive" ]; then
        echo "no skyhive binary at $1/skyhive (cmake --build $1 --target skyhive)" >&2
        exit 2
    fi
    echo "$(cd "$1" && pwd)/skyhive"
}

bench_need() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null || { echo "$cmd is not installed" >&2; exit 2; }
    done
}

bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_wait_port() {
    local port=$1 log=${2:-} i
    for i in $(seq 200); do
        nc -z 127.0.0.1 "$port" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$port after 10 s" >&2
    [ -n "$log" ] && tail -5 "$log" >&2
    exit 1
}

bench_track() {
    bench_pids+=("$1")
}

bench_start_redis() {
    bench_need redis-server redis-cli
    redis_port="$(bench_free_port)"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$bench_work" --logfile "$bench_work/redis.log" --daemonize yes \
        --pidfile "$bench_work/redis.pid" "$@"
    local i
    for i in $(seq 100); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "redis-server on port $redis_port does not answer PING after 5 s" >&2
    tail -5 "$bench_work/redis.log" >&2
    exit 1
}

bench_median() {
    awk -v c="$1" '{print $c}' "$2" | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'
}

# The config of a node that starts one bench service (its script in the first of bench/DIRS)
# with the arguments in $BENCH_ARGS, two workers, warnings only:
# FILE HARBOR SERVICE DIRS EXTRA_LUA_PATH [LINE...].
bench_service_config() {
    local file="$1" harbor="$2" service="$3" dirs="$4" extra="$5" dir services
    shift 5
    services="$bench_root/services/lua/?.lua"
    for dir in $dirs; do services="$services;$bench_root/bench/$dir/?.lua"; done
    cat > "$file" <<CONF
thread = 2
harbor = $harbor
bootstrap = "snlua bootstrap"
start = "$service \$BENCH_ARGS"
luaservice = "$services"
lua_path = "$bench_root/lualib/?.lua;$bench_root/lualib/?/init.lua$extra"
loglevel = "warn"
CONF
    local line
    for line in "$@"; do echo "$line" >> "$file"; done
}

bench_redis_config() {
    local file="$1"
    shift
    bench_service_config "$file" 0 bench_redis redis "" "$@"
}

bench_game_config() {
    local file="$1"
    shift
    bench_service_config "$file" 9 bench_game game ";$bench_root/services/game/?.lua" "$@"
}

bench_held_load() {
    local out="$1" callback="$2" fifo="$bench_work/hold.fifo" pid rc=0
    shift 2
    rm -f "$fifo"
    mkfifo "$fifo"
    GAME_LOAD_HOLD="$fifo" "$@" > "$out" &
    pid=$!
    bench_track "$pid"  # a script stopped while it is held would leave it waiting on the fifo
    until grep -qx ready "$out" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            rm -f "$fifo"
            return 1
        fi
        sleep 0.05
    done
    "$callback"
    # Opening the fifo blocks until the reader has it open: bounded, in case it died meanwhile.
    if ! timeout 10 bash -c 'echo go > "$1"' _ "$fifo"; then
        wait "$pid" 2>/dev/null || true
        rm -f "$fifo"
        return 1
    fi
    wait "$pid" || rc=$?
    rm -f "$fifo"
    sed -i '/^ready$/d' "$out"
    return "$rc"
}
