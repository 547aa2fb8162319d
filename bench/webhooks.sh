#!/usr/bin/env bash
# The webhook benchmark (issue 17): builds the release binary, installs wrk if needed and
# prints the tables kept in BENCHMARKS.md ("Webhooks"). About 5 minutes on 2 cores.
#
#   bench/webhooks.sh
#   BENCH_WEBHOOK_PENDING=10000 BENCH_SECONDS=3 bench/webhooks.sh   # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    echo "bench: installing wrk (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi

cargo build --release --quiet
exec python3 bench/webhooks.py "$@"
