#!/usr/bin/env bash
# skynet.multicast fan-out against skynet.send to each subscriber, in one fresh node; prints the
# line of bench_multicast.lua:
#   bench/lua/multicast_bench.sh [build-dir] [subscribers] [publications]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$root"
cat > "$tmp/config.lua" <<CONFIG
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "bench_multicast ${2:-100} ${3:-2000}"
luaservice = "./services/lua/?.lua;./bench/lua/?.lua"
lua_path = "./lualib/?.lua;./lualib/?/init.lua"
loglevel = "warn"
CONFIG
"$build/skyhive" "$tmp/config.lua" | grep -o 'multicast.fanout .*'
