#!/usr/bin/env bash
# Installs what skyhive needs to build, test and run, from Debian packages only.
# Idempotent: packages already present are not touched, and apt-get update runs at most once.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang-format
    libhiredis-dev liblua5.4-dev lua5.4 libjemalloc-dev libssl-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    clang libclang-rt-dev
    redis-server redis-sentinel redis-tools
    procps psmisc netcat-openbsd
    python3 python3-redis  # benchmark scripts: free ports, and redis-py as the lock reference
    libhttp-parser-dev     # the HTTP library's request and response parser
    chromium prometheus    # tests: the dashboard in a headless browser, promtool checks /metrics
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages present"
    exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services where an init system runs; skyhive starts its own Redis,
# and the tests use only promtool from the prometheus package.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now redis-server redis-sentinel prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi
echo "setup: done"
