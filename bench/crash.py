#!/usr/bin/env python3
"""Crash safety at scale: kill -9 `contactd fixtures load` of a 200k-contact file at
random moments; after each kill the database must open, pass `contactd check` and hold
exactly the rows it held before the load. Run through bench/crash.sh.
"""

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "contactd"
WORK = ROOT / "bench" / "work" / "crash"
KILLS = 8


def run(*args):
    return subprocess.run([BIN, *map(str, args)], check=True, capture_output=True, text=True)


def snapshot(db):
    conn = sqlite3.connect(db)
    rows = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("clients", "api_keys", "contacts", "tickets")}
    conn.close()
    return rows


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    fixture = WORK / "200k.json"
    if not fixture.exists():
        run("fixtures", "generate", "--contacts", "200000", "--seed", "9", "--out", fixture)
    db = WORK / "crash.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run("--db", db, "fixtures", "load", ROOT / "tests" / "data" / "tenants.json")
    before = snapshot(db)

    started = time.monotonic()
    run("--db", db, "fixtures", "load", fixture)
    full_load = time.monotonic() - started
    complete = snapshot(db)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run("--db", db, "fixtures", "load", ROOT / "tests" / "data" / "tenants.json")
    before = snapshot(db)

    rng = random.Random(2026)
    # Random moments, plus three late ones that land in the commit and checkpoint.
    delays = [rng.uniform(0.05, full_load * 0.98) for _ in range(KILLS)]
    delays += [full_load * f for f in (0.88, 0.93, 0.97)]
    for i, delay in enumerate(delays):
        load = subprocess.Popen([BIN, "--db", db, "fixtures", "load", fixture],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        load.kill()
        load.wait()
        check = subprocess.run([BIN, "--db", db, "check"], capture_output=True, text=True)
        after = snapshot(db)
        # All or nothing: a kill after the commit leaves the whole load, never a part.
        as_before = after == before
        whole = {t: rows for t, rows in after.items() if t != "api_keys"} == \
            {t: rows for t, rows in complete.items() if t != "api_keys"}
        verdict = "as before" if as_before else "the whole load" if whole else "HALF-WRITTEN"
        print(f"kill {i + 1}: after {delay:.2f} s of a {full_load:.1f} s load; "
              f"check {'ok' if check.returncode == 0 else 'FAILED'}; data {verdict} "
              f"({len(after['contacts'])} contacts)")
        if whole and not as_before:
            # Start the next kill from the state before the load again.
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            run("--db", db, "fixtures", "load", ROOT / "tests" / "data" / "tenants.json")
            before = snapshot(db)
        if check.returncode != 0 or not (as_before or whole):
            print(check.stdout, check.stderr)
            return 1
    print(f"crash: PASS ({len(delays)} kills, nothing lost or half-written)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
