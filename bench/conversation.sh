#!/usr/bin/env bash
# The conversation-writes benchmark (issue 18): builds the release binary, installs wrk if
# needed and prints the tables kept in BENCHMARKS.md ("Conversation writes"). At 1M
# contacts about 5 minutes on 2 cores once the data set exists (BENCH_REUSE=1 keeps the
# one bench/run.sh made).
#
#   BENCH_REUSE=1 bench/conversation.sh
#   BENCH_CONV_CONTACTS=10000 BENCH_CONV_ROUNDS=1 BENCH_CONV_SECONDS=3 bench/conversation.sh   # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/prelude.sh
exec python3 bench/conversation.py "$@"
