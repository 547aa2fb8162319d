#!/usr/bin/env bash
# Crash safety: kill -9 a 200k-contact fixtures load at random moments, then check that
# the database opens, passes `contactd check`, and holds exactly the data from before.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 bench/crash.py "$@"
