#!/usr/bin/env bash
# The benchmark: builds the release binary, generates and loads 1k and 1M contacts,
# drives the server with wrk on loopback and prints the table kept in BENCHMARKS.md.
#
#   bench/run.sh                 # full run (about 6 minutes on 2 cores)
#   BENCH_SIZES=1000 bench/run.sh  # a quick run on the small data set only
#
# Everything it makes goes to bench/work/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/prelude.sh
exec python3 bench/bench.py "$@"
