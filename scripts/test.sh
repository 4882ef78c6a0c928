#!/usr/bin/env bash
# Builds and runs the whole test suite, the way CI does:
#   1. AddressSanitizer + UndefinedBehaviorSanitizer build: every test;
#   2. ThreadSanitizer build: the tests labelled core, net and services (the threaded parts);
#   3. libFuzzer targets (clang), each for a bounded time;
#   4. the plain build (the one the README runs): every test, benchmarks compiled.
# The long game soak (ctest label "soak", 5 minutes) runs in no stage: see the README's Tests
# section. Its short version (label "soak-short") runs with the others.
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

configure_build() {  # dir, targets ("all" or a list), then cmake options
    local dir=$1 targets=$2
    shift 2
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir/configure.log" 2>&1 ||
        { cat "$dir/configure.log"; return 1; }
    # shellcheck disable=SC2086
    cmake --build "$dir" -j"$jobs" --target $targets >"$dir/build.log" 2>&1
    local rc=$?
    grep -E "error|warning" "$dir/build.log"
    [ $rc -eq 0 ] || tail -30 "$dir/build.log"
    return $rc
}

# Sanitizer builds: -O1 and light debug info keep the compile short and the stacks readable;
# NDEBUG stays off so assertions run.
san_flags=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1"
           -DSKYHIVE_BUILD_BENCH=OFF)

fuzz_build() {  # libFuzzer needs clang; only the fuzz targets are built
    CC=clang CXX=clang++ configure_build build-fuzz fuzz_targets -DSKYHIVE_FUZZ=ON "${san_flags[@]}"
}

mkdir -p build-asan build-tsan build-fuzz build
# Labels left out of the ASan and plain runs (a regular expression matched against each label):
# the fuzz targets (stage 3) and the long soak; "soak-short" does not match and runs.
skip='fuzz|^soak$'

stage "asan+ubsan build" configure_build build-asan all -DSKYHIVE_SANITIZE=address "${san_flags[@]}"
stage "asan+ubsan tests" ctest --test-dir build-asan -LE "$skip" -j"$jobs" --output-on-failure \
    --timeout 600 --no-tests=error

stage "tsan build" configure_build build-tsan threaded_tests -DSKYHIVE_SANITIZE=thread "${san_flags[@]}"
stage "tsan tests (core, net, services)" env TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest --test-dir build-tsan -L "core|net|services" -j"$jobs" --output-on-failure --timeout 600 \
    --no-tests=error

if command -v clang++ >/dev/null 2>&1; then
    stage "fuzz build" fuzz_build
    stage "fuzz runs" ctest --test-dir build-fuzz -L fuzz --output-on-failure --timeout 300 \
        --no-tests=error
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "FAILED stages: ${failed[*]} (the plain suite below runs anyway)"
fi

stage "build" configure_build build all -DSKYHIVE_BUILD_BENCH=ON
# Last, and nothing printed after it: the output ends with this ctest summary.
echo
echo "=== tests (plain build)"
ctest --test-dir build -LE "$skip" -j"$jobs" --output-on-failure --timeout 600 --no-tests=error ||
    status=1
exit $status
