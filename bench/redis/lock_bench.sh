#!/usr/bin/env bash
# Distributed locks under contention, against redis-py's Lock in the same run, one redis-server
# started here for all.
#   bench/redis/lock_bench.sh [build-dir] [runs] [seconds]
# Each run measures, in turn: the round trip of `redis-benchmark -c 1` GET; redis-py (8
# processes) spending the critical section spinning, as skyhive does, and sleeping (the way it
# is usually written, printed beside); skyhive non-fair and fair (8 services); each for
# `seconds` (default 10): 8 contenders loop on one lock (ttl 1 s): read a key, spend 1 ms, write
# key + 1, release. Plus acquire+release pairs/s of one coroutine on a free lock.
# For every contended line the Redis commands (all, scripts' own calls included, as INFO
# commandstats counts them), the scripts (EVAL/EVALSHA) and the Redis CPU (INFO cpu) per
# acquisition come from the server's counters before and after it.
# The latency ceiling is 1 / (critical section + 3 round trips): the most acquisitions/s one
# lock can pass when each holder needs three round trips it cannot overlap with its section.
# A second ceiling (ceiling.idle, of_idle_ceiling) takes the three round trips a holder really
# meets, after its 1 ms in which the server idles: build/bench/redis/idle_rtt times them with a
# plain hiredis client that spins 1 ms and then sends three GETs (its back-to-back round trip is
# printed too, usually below redis-benchmark's).
# Prints every run's lines, then the medians over `runs` (default 3):
#   lock.contended.c8.nonfair acq_per_s=900 p99_wait_ms=40.1 cmds_per_acq=6.1 scripts_per_acq=2.0
#       ref=620 ratio=1.45 ceiling=880 of_ceiling=0.95 exclusive_every_run=yes
# (ratio, of_ceiling and of_idle_ceiling are the medians of the runs' own: each run's figure
# against that run's reference and ceilings.)
# Per mode, also the service messages and process CPU per acquisition and the medians of the
# hand-off (release sent to the next holder's first instruction) and of a round trip through
# the node:
#   lock.path.c8.nonfair msgs_per_acq=6.6 cpu_us_per_acq=340 handoff_ms=0.16 node_get_rtt_ms=0.11
#       release_rtt_ms=0.12 c1_rtt_ms=0.046
# The contenders opt in to socket.inline (their Redis replies and notices are handled on the
# socket thread while they are idle); BENCH_INLINE=0 leaves them on the workers. The contended
# lines end with inline=1 or 0.
# The reference needs python3-redis (Debian); without it the ratios to it are left out.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root="$bench_root"
build="${1:-$root/build}"
runs="${2:-3}"
seconds="${3:-10}"
skyhive="$(bench_skyhive "$build")"
bench_need redis-benchmark
python=/usr/bin/python3
have_ref=1
"$python" -c "import redis" 2>/dev/null || { have_ref=0; echo "# python3-redis missing: no reference" >&2; }
work="$bench_work"
bench_start_redis
port="$redis_port"
SECTION_MS=1

bench_service_config "$work/config.lua" 0 lock_bench redis ""

results="$work/results"
: > "$results"
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<< "$2"; }

# "<commands> <scripts> <cpu seconds>" the server has counted so far (INFO itself left out).
counters() {
    redis-cli -p "$port" info all | tr -d '\r' | awk -F'[:,=]' '
        /^cmdstat_/ { if ($1 != "cmdstat_info") calls += $3
                      if ($1 == "cmdstat_eval" || $1 == "cmdstat_evalsha") scripts += $3 }
        /^used_cpu_(sys|user):/ { cpu += $2 }
        END { printf "%d %d %.6f\n", calls, scripts, cpu }'
}

# per_acq BEFORE AFTER ACQUISITIONS -> "cmds_per_acq=.. scripts_per_acq=.. redis_cpu_us_per_acq=.."
per_acq() {
    awk -v b="$1" -v a="$2" -v n="$3" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        if (n <= 0) n = 1
        printf "cmds_per_acq=%.2f scripts_per_acq=%.2f redis_cpu_us_per_acq=%.0f",
            (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) * 1e6 / n }'
}

# Runs one contended side: measure LABEL CMD... prints its line with the per-acquisition
# figures and records "LABEL acq p99 exclusive cmds scripts cpu" in the results.
measure() {
    local label=$1 before after line n extra
    shift
    before="$(counters)"
    out="$("$@" 2>"$work/err.log" || true)"
    after="$(counters)"
    line="$(grep -E '^(lock\.contended|ref\.redis_py)' <<< "$out" || true)"
    [ -n "$line" ] || { echo "lock bench $label failed: $(tail -3 "$work/err.log")" >&2; return 0; }
    n="$(awk -v a="$(field acq_per_s "$line")" -v s="$seconds" 'BEGIN {printf "%d", a * s}')"
    extra="$(per_acq "$before" "$after" "$n")"
    echo "run$run $line $extra"
    echo "$label $(field acq_per_s "$line") $(field p99_wait_ms "$line") $(field exclusive "$line")" \
        "$(field cmds_per_acq "$extra") $(field scripts_per_acq "$extra")" \
        "$(field redis_cpu_us_per_acq "$extra")" >> "$results"
    node="$(grep '^lock\.node' <<< "$out" || true)"
    hand="$(grep '^lock\.handoff' <<< "$out" || true)"
    [ -n "$node" ] || return 0
    echo "run$run $node"
    echo "run$run $hand"
    # Medians of the hand-off and of one GET round trip through the node (the part before /).
    echo "node_$label $(field msgs_per_acq "$node") $(field cpu_us_per_acq "$node")" \
        "$(field sent_acq_ms "$hand" | cut -d/ -f1) $(field acq_get_ms "$hand" | cut -d/ -f1)" \
        "$(field sent_reply_ms "$hand" | cut -d/ -f1)" >> "$results"
}

lua_bench() {
    BENCH_ARGS="main $port $*" "$skyhive" "$work/config.lua"
}

# The latest acquisitions/s recorded for LABEL (this run's, once measure has run).
latest() { awk -v l="$1" '$1 == l {v = $2} END {print v}' "$results"; }

echo "# load before: $(uptime)"
for run in $(seq "$runs"); do
    idle_ceiling=""
    # The round trip of one client that waits for each reply, as a lock holder does.
    gets="$(redis-benchmark -p "$port" -c 1 -n 20000 -t get -q | tr '\r' '\n' |
        sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' | tail -1)"
    rtt_us="$(awk -v g="$gets" 'BEGIN {printf "%.1f", 1e6 / g}')"
    ceiling="$(awk -v r="$rtt_us" -v s="$SECTION_MS" 'BEGIN {printf "%.0f", 1 / (s / 1e3 + 3 * r / 1e6)}')"
    echo "run$run redis-benchmark.c1.get rps=$gets rtt_us=$rtt_us ceiling_acq_per_s=$ceiling"
    echo "ceiling $ceiling $rtt_us" >> "$results"
    if [ -x "$build/bench/redis/idle_rtt" ]; then
        idle="$("$build/bench/redis/idle_rtt" "$port" $((SECTION_MS * 1000)) 1000 || true)"
        if [ -n "$idle" ]; then
            idle_ceiling="$(awk -v a="$(field first_us "$idle")" -v b="$(field second_us "$idle")" \
                -v c="$(field third_us "$idle")" -v s="$SECTION_MS" \
                'BEGIN {printf "%.0f", 1 / (s / 1e3 + (a + b + c) / 1e6)}')"
            echo "run$run $idle ceiling_acq_per_s=$idle_ceiling"
            echo "idle $idle_ceiling $(field first_us "$idle") $(field second_us "$idle")" \
                "$(field third_us "$idle") $(field back_to_back_us "$idle")" >> "$results"
        fi
    fi
    if [ "$have_ref" = 1 ]; then
        measure ref "$python" "$root/bench/redis/lock_bench_ref.py" "$port" 8 "$seconds" spin
        measure refsleep "$python" "$root/bench/redis/lock_bench_ref.py" "$port" 8 "$seconds" sleep
    fi
    for mode in nonfair fair; do
        measure "$mode" lua_bench 8 "$seconds" "$mode" 0
    done
    # This run's own ratios, each against the reference and ceilings of the same run (the host's
    # noise moves them together); the summary takes their medians.
    run_ref=""
    [ "$have_ref" = 1 ] && run_ref="$(latest ref)"
    for label in refsleep nonfair fair; do
        acq="$(latest "$label")"
        [ -n "$acq" ] || continue
        awk -v l="$label" -v a="$acq" -v r="$run_ref" -v c="$ceiling" -v i="$idle_ceiling" \
            'BEGIN {printf "runratio_%s %s %.2f %s\n", l, (r > 0 ? sprintf("%.2f", a / r) : "-"),
                    a / c, (i > 0 ? sprintf("%.2f", a / i) : "-")}' >> "$results"
    done
    un="$(lua_bench 0 0 nonfair 20000 2>"$work/err.log" | grep '^lock.uncontended' || true)"
    if [ -n "$un" ]; then
        echo "run$run $un"
        echo "pairs $(field pairs_per_s "$un")" >> "$results"
    fi
done
echo "# load after: $(uptime)"
col() { awk -v l="$1" -v c="$2" '$1 == l {print $c}' "$results" | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }
echo "# medians of $runs runs"
ceiling="$(col ceiling 2)"
echo "ceiling.c1_rtt rtt_us=$(col ceiling 3) ceiling_acq_per_s=$ceiling"
idle_ceiling="$(col idle 2)"
if [ -n "$idle_ceiling" ]; then
    echo "ceiling.idle ceiling_acq_per_s=$idle_ceiling first_us=$(col idle 3)" \
        "second_us=$(col idle 4) third_us=$(col idle 5) back_to_back_us=$(col idle 6)"
fi
ref_acq="$(col ref 2)"
for label in ref refsleep nonfair fair; do
    acq="$(col $label 2)"
    [ -n "$acq" ] || continue
    excl="$(awk -v m=$label '$1 == m && $4 != "yes" {bad=1} END {print bad ? "no" : "yes"}' "$results")"
    name="lock.contended.c8.$label"
    [ "$label" = ref ] && name="ref.redis_py.spin.c8"
    [ "$label" = refsleep ] && name="ref.redis_py.sleep.c8"
    line="$name acq_per_s=$acq p99_wait_ms=$(col $label 3) cmds_per_acq=$(col $label 5)"
    line="$line scripts_per_acq=$(col $label 6) redis_cpu_us_per_acq=$(col $label 7)"
    # The ratios are the medians of the runs' own (runratio_ lines), not ratios of medians
    # that may come from different runs; the reference's own line has its ceilings' alone.
    if [ "$label" = ref ]; then
        of_c="$(awk -v a="$acq" -v b="$ceiling" 'BEGIN {printf "%.2f", a / b}')"
        of_i=""
        [ -n "$idle_ceiling" ] && of_i="$(awk -v a="$acq" -v b="$idle_ceiling" 'BEGIN {printf "%.2f", a / b}')"
    else
        r="$(col runratio_$label 2)"
        [ -n "$ref_acq" ] && [ "$r" != - ] && line="$line ref=$ref_acq ratio=$r"
        of_c="$(col runratio_$label 3)"
        of_i="$(col runratio_$label 4)"
        [ "$of_i" = - ] && of_i=""
    fi
    line="$line ceiling=$ceiling of_ceiling=$of_c"
    [ -n "$of_i" ] && [ -n "$idle_ceiling" ] && line="$line of_idle_ceiling=$of_i"
    line="$line exclusive_every_run=$excl"
    if [ "$label" = nonfair ] || [ "$label" = fair ]; then line="$line inline=${BENCH_INLINE:-1}"; fi
    echo "$line"
    if [ "$label" = nonfair ] || [ "$label" = fair ]; then
        # Where a cycle goes: 1 ms, three round trips through the node (GET, SET, and the
        # release whose notice hands over) and the lock's own work; node_rtt against the
        # redis-benchmark round trip tells the client's share from the lock's.
        c1_ms="$(awk -v r="$(col ceiling 3)" 'BEGIN {printf "%.3f", r / 1e3}')"
        echo "lock.path.c8.$label msgs_per_acq=$(col node_$label 2)" \
            "cpu_us_per_acq=$(col node_$label 3) handoff_ms=$(col node_$label 4)" \
            "node_get_rtt_ms=$(col node_$label 5) release_rtt_ms=$(col node_$label 6)" \
            "c1_rtt_ms=$c1_ms"
    fi
done
pairs="$(col pairs 2)"
[ -n "$pairs" ] && echo "lock.uncontended pairs_per_s=$pairs"
true
