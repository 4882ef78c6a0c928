#!/usr/bin/env bash
# Builds and runs the whole test suite, the way CI does, one preset of CMakePresets.json a stage
# (the same trees and filters by hand: cmake --preset asan && cmake --build --preset asan &&
# ctest --preset asan -j2):
#   1. AddressSanitizer + UndefinedBehaviorSanitizer build: every test but the Redis Cluster
#      scenarios (label cluster: minutes of real clusters that run Lua over the same C++
#      paths as the other Redis tests; the slot function's unit tests stay in);
#   2. ThreadSanitizer build: the tests labelled core, net and services (the threaded parts) and
#      the Lua tests (a whole node: socket thread, workers, guests), but the Redis Cluster ones
#      (SKYHIVE_TEST_SLOWDOWN there stretches the Lua tests' own waits and scales down the load
#      of those whose timing TSan's speed would upset);
#   3. libFuzzer targets (clang), each for a bounded time;
#   4. the plain build (the one the README runs): every test, benchmarks compiled.
# The long game soak (ctest label "soak", 5 minutes) runs in no stage (the test presets leave it
# out): see the README's Tests section. Its short version (label "soak-short") runs with the
# others.
# Every stage runs even if an earlier one failed; the exit status is non-zero if any failed. The
# plain build runs last, so the output ends with its ctest summary.
set -u
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
status=0
failed=()

stage() {  # name, then the command
    local name=$1
    shift
    echo
    echo "=== $name"
    local t0=$SECONDS
    if ! "$@"; then
        status=1
        failed+=("$name")
    fi
    echo "=== $name: $((SECONDS - t0)) s"
}

# One tree per preset of CMakePresets.json (its configure, build and test presets hold the
# options, the targets and the label filters); a compiler launcher such as ccache is taken from
# the environment (CMAKE_C_COMPILER_LAUNCHER, CMAKE_CXX_COMPILER_LAUNCHER) or a tree's cache.
configure_build() {  # preset
    local preset=$1 dir=build-$1
    [ "$preset" = default ] && dir=build
    mkdir -p "$dir"
    cmake --preset "$preset" >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; return 1; }
    cmake --build --preset "$preset" -j"$jobs" >"$dir/build.log" 2>&1
    local rc=$?
    grep -E "error|warning" "$dir/build.log"
    [ $rc -eq 0 ] || tail -30 "$dir/build.log"
    return $rc
}

run_tests() {  # preset
    ctest --preset "$1" -j"$jobs"
}

stage "asan+ubsan build" configure_build asan
stage "asan+ubsan tests" run_tests asan

stage "tsan build" configure_build tsan
stage "tsan tests (core, net, services, lua)" run_tests tsan

if command -v clang++ >/dev/null 2>&1; then
    stage "fuzz build" configure_build fuzz
    stage "fuzz runs" run_tests fuzz
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "FAILED stages: ${failed[*]} (the plain suite below runs anyway)"
fi

stage "build" configure_build default
# Last, and nothing printed after it: the output ends with this ctest summary.
echo
echo "=== tests (plain build)"
run_tests default || status=1
exit $status
