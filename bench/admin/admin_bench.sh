#!/usr/bin/env bash
# The admin endpoint's cost on a node of 1,000 idle services (bench_admin.lua): the time to answer
# one scrape of /metrics and of /api/state over HTTP, the admin service's CPU per scrape (and its
# share of one worker at one scrape a second), against rendering the same text without HTTP.
#   bench/admin/admin_bench.sh [build-dir] [services] [scrapes]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
skyhive="$(bench_skyhive "${1:-$bench_root/build}")"
bench_service_config "$bench_work/config.lua" 0 bench_admin "admin lua" ""
BENCH_ARGS="${2:-1000} ${3:-50}" "$skyhive" "$bench_work/config.lua" | grep -E '^admin\.'
