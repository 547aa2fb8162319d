#!/usr/bin/env python3
"""The list's filters and search's short pieces, one request at a time (issue 21 item 2):
median and p99 of each kind of query over a generated data set, and the same client's
/info as the yardstick, in one run. The data set is generated and loaded by
bench.generate/bench.load (reused with BENCH_REUSE=1); the release binary must exist.

    BENCH_LIST_CONTACTS=1000000 python3 bench/list_filters.py
"""

import http.client
import json
import os
import signal
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

CONTACTS = int(os.environ.get("BENCH_LIST_CONTACTS", "100000"))
REQUESTS = int(os.environ.get("BENCH_LIST_REQUESTS", "200"))


def timed(conn, path, key):
    started = time.perf_counter()
    conn.request("GET", path, headers={"x-api-key": key})
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {body[:200]!r}")
    return elapsed, len(json.loads(body)) if body.startswith(b"[") else None


def main():
    bench.WORK.mkdir(parents=True, exist_ok=True)
    fixture, keys = bench.generate(CONTACTS, tag="-list", messages=0)
    db, load_seconds = bench.load(CONTACTS, fixture, tag="-list")
    client, key = sorted(keys.items())[0]
    conn = sqlite3.connect(db)
    contact = conn.execute("SELECT id FROM contacts WHERE client_id = ? LIMIT 1", (client,)).fetchone()[0]
    pipeline, stage = conn.execute(
        "SELECT p.id, s.id FROM pipelines p JOIN stages s ON s.pipeline_id = p.id WHERE p.client_id = ? LIMIT 1",
        (client,)).fetchone()
    # A value few contacts share: a lifetime_value of the client's (generated to the cent).
    rare_value = conn.execute(
        "SELECT metadata ->> '$.lifetime_value' AS v FROM contacts WHERE client_id = ? AND v IS NOT NULL "
        "GROUP BY v ORDER BY count(*), v LIMIT 1", (client,)).fetchone()[0]
    per_client = conn.execute("SELECT count(*) FROM contacts WHERE client_id = ?", (client,)).fetchone()[0]
    conn.close()
    proc, _ = bench.start_server(db)
    base = bench.wait_listening(proc)
    bench.wait_page_check(proc)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    host, port = base.removeprefix("http://").split(":")
    cases = [
        ("/info (yardstick)", f"/api/public/contact/{contact}/info"),
        ("list days=365", "/api/public/contacts?days=365"),
        ("list custom_field, no match", "/api/public/contacts?days=365&custom_field_key=plan&custom_field_value=none"),
        ("list custom_field plan=gold", "/api/public/contacts?days=365&custom_field_key=plan&custom_field_value=gold"),
        ("list entity_type=ticket, no match",
         "/api/public/contacts?days=365&entity_type=ticket&custom_field_key=k&custom_field_value=none"),
        ("list entity_type=ticket priority=high",
         "/api/public/contacts?days=365&entity_type=ticket&custom_field_key=priority&custom_field_value=high"),
        ("list custom_field, a rare value",
         f"/api/public/contacts?days=365&custom_field_key=lifetime_value&custom_field_value={rare_value}"),
        ("list stage_id (common)", f"/api/public/contacts?days=365&stage_id={stage}"),
        ("list stage_id (no such stage)", "/api/public/contacts?days=365&stage_id=00000000-0000-4000-8000-000000000000"),
        ("list pipeline_id", f"/api/public/contacts?days=365&pipeline_id={pipeline}"),
        ("search phone=5 (1 digit)", "/api/public/contacts/search?phone=5"),
        ("search email=%25 (rare, 1 char)", "/api/public/contacts/search?email=%25"),
        ("search email=zq (rare, 2 chars)", "/api/public/contacts/search?email=zq"),
        ("search phone 8 digits", "/api/public/contacts/search?phone=56912345"),
    ]
    rows = []
    http_conn = http.client.HTTPConnection(host, int(port))
    for name, path in cases:
        timed(http_conn, path, key)  # warm
        times, n = [], None
        for _ in range(REQUESTS):
            t, n = timed(http_conn, path, key)
            times.append(t * 1000)
        times.sort()
        rows.append((name, statistics.median(times), times[int(len(times) * 0.99) - 1], n))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    print(f"{CONTACTS:,} contacts, {per_client:,} of them the client's; loaded in {load_seconds:.1f} s; "
          f"{REQUESTS} requests each, one at a time")
    print("\n| query | median ms | p99 ms | answered |")
    print("|---|---:|---:|---:|")
    for name, median, p99, n in rows:
        print(f"| {name} | {median:.2f} | {p99:.2f} | {'' if n is None else n} |")


if __name__ == "__main__":
    sys.exit(main())
