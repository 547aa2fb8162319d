#!/usr/bin/env bash
# Crash safety: kill -9 a 200k-contact fixtures load at random moments, then check that
# the database opens, passes `contactd check`, and holds exactly the data from before;
# then kill -9 the server in the middle of streams of API writes, and check that every
# write answered 201 is there.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 bench/crash.py "$@"
