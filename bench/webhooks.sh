#!/usr/bin/env bash
# The webhook benchmark (issue 17): builds the release binary, installs wrk if needed and
# prints the tables kept in BENCHMARKS.md ("Webhooks"). About 5 minutes on 2 cores.
#
#   bench/webhooks.sh
#   BENCH_WEBHOOK_PENDING=10000 BENCH_SECONDS=3 bench/webhooks.sh   # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/prelude.sh
exec python3 bench/webhooks.py "$@"
