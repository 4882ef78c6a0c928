#!/usr/bin/env bash
# The admin endpoint's cost on a node of 1,000 idle services (bench_admin.lua): the time to answer
# one scrape of /metrics and of /api/state over HTTP, the admin service's CPU per scrape (and its
# share of one worker at one scrape a second), against rendering the same text without HTTP.
#   bench/admin/admin_bench.sh [build-dir] [services] [scrapes]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
skyhive="$(bench_skyhive "${1:-$bench_root/build}")"
cat > "$bench_work/config.lua" <<CONFIG
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "bench_admin ${2:-1000} ${3:-50}"
luaservice = "$bench_root/services/lua/?.lua;$bench_root/bench/admin/?.lua;$bench_root/bench/lua/?.lua"
lua_path = "$bench_root/lualib/?.lua;$bench_root/lualib/?/init.lua"
loglevel = "warn"
CONFIG
"$skyhive" "$bench_work/config.lua" | grep -E '^admin\.'
