#!/usr/bin/env bash
# Load soak: five minutes of mixed traffic (200, 304, 400, 401, 404) with wrk while
# `contactd fixtures load` and `keys create/revoke` run from other processes; then it
# checks zero unexpected statuses, zero socket errors and flat memory.
#
#   bench/soak.sh                 # 300 s
#   SOAK_SECONDS=60 bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/prelude.sh
exec python3 bench/soak.py "$@"
