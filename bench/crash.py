#!/usr/bin/env python3
"""Crash safety at scale, run through bench/crash.sh:

1. kill -9 `contactd fixtures load` of a 200k-contact file at random moments, into a
   database holding other data and into a new one (the load that sets the indexes aside
   and builds them after the rows); after each kill the database must open, pass
   `contactd check` and hold exactly the rows and the schema it held before the load;
2. kill -9 `contactd serve` over those 200k contacts in the middle of a stream of
   metadata writes (SPEC 7.5) from 8 clients; after each kill every write that was
   answered 201 must be in the database, which must pass `contactd check`.
"""

import http.client
import json
import random
import re
import threading
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "contactd"
WORK = ROOT / "bench" / "work" / "crash"
KILLS = 8
WRITE_KILLS = 6
WRITERS = 8


def run(*args):
    return subprocess.run([BIN, *map(str, args)], check=True, capture_output=True, text=True)


def snapshot(db):
    """Every row of the tables a load writes; without `contacts.updated_at`, which a load
    stamps with its own time (so two complete loads differ only there)."""
    conn = sqlite3.connect(db)
    rows = {}
    for table in ("clients", "api_keys", "contacts", "tickets", "pipelines", "stages", "messages"):
        columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")
                   if (table, c[1]) != ("contacts", "updated_at")]
        rows[table] = conn.execute(f"SELECT {', '.join(map(quote, columns))} FROM {table} ORDER BY 1, 2").fetchall()
    # Indexes and triggers too: a load into a new database drops and makes them again.
    rows["schema"] = conn.execute("SELECT type, name, sql FROM sqlite_schema ORDER BY 2").fetchall()
    conn.close()
    return rows


def quote(column):
    return '"' + column.replace('"', '""') + '"'



def main():
    WORK.mkdir(parents=True, exist_ok=True)
    fixture, keys = WORK / "200k.json", WORK / "200k.keys.json"
    if not (fixture.exists() and keys.exists()):
        fixture.unlink(missing_ok=True)  # generate keeps an existing file
        out = run("fixtures", "generate", "--contacts", "200000", "--seed", "9", "--out", fixture)
        keys.write_text(json.dumps(dict(re.findall(r"^client (\S+) key (\S+)$", out.stdout, re.M))))
    status = kill_loads(fixture, into_new=False)
    if status == 0:
        status = kill_loads(fixture, into_new=True)
    if status == 0:
        status = kill_writes(fixture, json.loads(keys.read_text()))
    return status


def kill_loads(fixture, into_new):
    """Kills loads into a database holding tests/data/tenants.json, or into a new one."""
    db = WORK / "crash.db"

    def fresh():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        if into_new:
            run("--db", db, "migrate")
        else:
            run("--db", db, "fixtures", "load", ROOT / "tests" / "data" / "tenants.json")
        return snapshot(db)

    before = fresh()

    started = time.monotonic()
    run("--db", db, "fixtures", "load", fixture)
    full_load = time.monotonic() - started
    complete = snapshot(db)
    before = fresh()

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
            before = fresh()
        if check.returncode != 0 or not (as_before or whole):
            print(check.stdout, check.stderr)
            return 1
    into = "a new database" if into_new else "a database holding other data"
    print(f"crash: loads into {into} PASS ({len(delays)} kills, nothing lost or half-written)")
    return 0


def kill_writes(fixture, keys):
    db = WORK / "crash-writes.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run("--db", db, "fixtures", "load", fixture)
    conn = sqlite3.connect(db)
    contacts = conn.execute("SELECT id, client_id FROM contacts").fetchall()
    conn.close()
    rng = random.Random(2027)
    total = 0
    for round_ in range(WRITE_KILLS):
        server = subprocess.Popen([BIN, "--db", db, "serve", "--bind", "127.0.0.1:0", "--no-demo"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        address = next(line.split("//")[1].strip() for line in server.stdout
                       if line.startswith("listening on "))
        host, port = address.rsplit(":", 1)
        acknowledged, refused, stop = [], [], threading.Event()

        def write(writer):
            pick = random.Random(round_ * 100 + writer)
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            n = 0
            while not stop.is_set():
                contact, client = pick.choice(contacts)
                key = f"crash_{round_}_{writer}_{n}"
                try:
                    conn.request("POST", f"/api/public/contact/{contact}/update-metadata",
                                 json.dumps({key: n}),
                                 {"x-api-key": keys[client], "content-type": "application/json"})
                    reply = conn.getresponse()
                    reply.read()
                except OSError:
                    return  # the server is gone: this write may or may not have landed
                (acknowledged if reply.status == 201 else refused).append((contact, key, n))
                n += 1

        writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        for t in writers:
            t.start()
        delay = rng.uniform(1.0, 4.0)
        time.sleep(delay)
        server.kill()
        stop.set()
        for t in writers:
            t.join()
        server.wait()

        check = subprocess.run([BIN, "--db", db, "check"], capture_output=True, text=True)
        conn = sqlite3.connect(db)
        lost = []
        for contact, key, n in acknowledged:
            (metadata,) = conn.execute("SELECT metadata FROM contacts WHERE id = ?", (contact,)).fetchone()
            if json.loads(metadata).get(key) != n:
                lost.append(key)
        conn.close()
        total += len(acknowledged)
        print(f"write kill {round_ + 1}: after {delay:.2f} s; {len(acknowledged)} writes acknowledged, "
              f"{len(lost)} lost, {len(refused)} refused; check {'ok' if check.returncode == 0 else 'FAILED'}")
        if lost or refused or check.returncode != 0 or not acknowledged:
            print(check.stdout, check.stderr, lost[:10], refused[:10])
            return 1
    print(f"crash: writes PASS ({WRITE_KILLS} kills, {total:,} acknowledged writes, none lost)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
