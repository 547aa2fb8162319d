#!/usr/bin/env bash
# The request-journal benchmark (issue 19): builds the release binary, installs wrk if
# needed and prints the table kept in BENCHMARKS.md ("Request journal"). About 15 minutes
# at 1M contacts on 2 cores, most of it making the data set (BENCH_REUSE=1 keeps it).
#
#   bench/journal.sh
#   BENCH_JOURNAL_CONTACTS=10000 BENCH_JOURNAL_ROUNDS=4 BENCH_JOURNAL_SECONDS=3 bench/journal.sh   # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/prelude.sh
exec python3 bench/journal.py "$@"
