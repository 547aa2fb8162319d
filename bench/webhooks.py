#!/usr/bin/env python3
"""Webhook benchmark (issue 17); run it through bench/webhooks.sh, which builds and
installs wrk.

On a generated set of BENCH_WEBHOOK_CONTACTS contacts (default 10,000), with a receiver
on loopback that answers 204 at once (bench/webhook_receiver.py):

1. drain: deliveries stored by a --no-webhooks server, then sent by a server that sends,
   at 1 and at 8 subscriptions: deliveries per second;
2. latency: writes at a steady BENCH_WEBHOOK_RATE per second (default 200), event
   timestamp to receipt, p50 and p99;
3. writes: update-metadata with wrk, no subscription, then three subscriptions to the
   topic, in one run: the ratio;
4. a receiver down for the whole run: writes until 100,000 deliveries are pending, then
   the server's RssAnon and /info's rate against /info before any was pending.

Every wrk run lasts BENCH_SECONDS (default 10). Bounded in time and count; loopback only.
BENCH_WEBHOOK_PARTS (default "drain,latency,writes,down") runs only the parts named.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the shared harness: generate, load, wrk, lua files)

CONTACTS = int(os.environ.get("BENCH_WEBHOOK_CONTACTS", "10000"))
RATE = int(os.environ.get("BENCH_WEBHOOK_RATE", "200"))
PENDING = int(os.environ.get("BENCH_WEBHOOK_PENDING", "100000"))
PARTS = os.environ.get("BENCH_WEBHOOK_PARTS", "drain,latency,writes,down").split(",")
DRAIN_WRITES = 5000
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# Every server and receiver started, killed at exit however the run ends.
CHILDREN = []
atexit.register(lambda: [p.kill() for p in CHILDREN if p.poll() is None])


def serve(db, *flags):
    proc = subprocess.Popen([bench.BIN, "--db", db, "serve", "--bind", "127.0.0.1:0", "--no-demo",
                             "--workers", "2", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    CHILDREN.append(proc)
    base = bench.wait_listening(proc)
    bench.wait_page_check(proc)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, base


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


class Receiver:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "webhook_receiver.py")],
                                     stdout=subprocess.PIPE, text=True)
        CHILDREN.append(self.proc)
        self.url = f"http://127.0.0.1:{self.proc.stdout.readline().split()[1]}/hook"

    def finish(self):
        self.proc.send_signal(signal.SIGTERM)
        out = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout=10)
        return out


def call(base, method, path, key, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"x-api-key": key, "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def subscribe(base, key, url, n):
    return [call(base, "POST", "/api/webhooks", key,
                 {"topic": "contact.updated", "url": url, "secret": SECRET})["id"] for _ in range(n)]


def delete_all(base, key):
    for hook in call(base, "GET", "/api/webhooks", key):
        if hook["deleted_at"] is None:
            call(base, "DELETE", f"/api/webhooks/{hook['id']}", key)


def count(db, status):
    conn = sqlite3.connect(db)
    n = conn.execute("SELECT count(*) FROM webhook_deliveries WHERE status = ?", (status,)).fetchone()[0]
    conn.close()
    return n


def clear_deliveries(db):
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM webhook_deliveries")
    conn.execute("DELETE FROM webhook_events")
    conn.commit()
    conn.close()


def writes(base, key, contacts, n):
    """n update-metadata writes, one after another."""
    for i in range(n):
        call(base, "POST", f"/api/public/contact/{contacts[i % len(contacts)]}/update-metadata", key,
             {"leadScore": i})


def drain(db, key, contacts, subscriptions):
    clear_deliveries(db)
    proc, base = serve(db, "--no-webhooks")
    receiver = Receiver()
    subscribe(base, key, receiver.url, subscriptions)
    writes(base, key, contacts, DRAIN_WRITES // subscriptions)
    delete_ids = call(base, "GET", "/api/webhooks", key)
    stop(proc)
    total = count(db, "pending")
    started = time.monotonic()
    proc, base = serve(db)
    while count(db, "pending") > 0 and time.monotonic() - started < 120:
        time.sleep(0.05)
    seconds = time.monotonic() - started
    got = receiver.finish()
    for hook in delete_ids:
        call(base, "DELETE", f"/api/webhooks/{hook['id']}", key)
    stop(proc)
    return {"subscriptions": subscriptions, "deliveries": total, "received": got["count"],
            "seconds": seconds, "rate": total / seconds}


def latency(db, key, contacts):
    clear_deliveries(db)
    proc, base = serve(db)
    receiver = Receiver()
    subscribe(base, key, receiver.url, 1)
    n = RATE * bench.SECONDS
    started = time.monotonic()
    for i in range(n):
        due = started + i / RATE
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        call(base, "POST", f"/api/public/contact/{contacts[i % len(contacts)]}/update-metadata", key,
             {"leadScore": i})
    deadline = time.monotonic() + 30
    while count(db, "delivered") < n and time.monotonic() < deadline:
        time.sleep(0.05)
    got = receiver.finish()
    delete_all(base, key)
    stop(proc)
    lat = sorted(got["latencies_ms"])
    return {"writes": n, "received": len(lat), "rate": RATE,
            "p50_ms": statistics.median(lat), "p99_ms": lat[int(len(lat) * 0.99) - 1], "max_ms": lat[-1]}


def write_rates(db, key, contacts):
    clear_deliveries(db)
    proc, base = serve(db)
    receiver = Receiver()
    lua = bench.lua_file("webhook-writes", [(f"/api/public/contact/{c}/update-metadata", key)
                                             for c in contacts], bench.WRITE_LUA)
    rounds = []
    for _ in range(2):
        without = bench.wrk(base, lua, 8, threads=1, server_pid=proc.pid)
        subscribe(base, key, receiver.url, 3)
        with_three = bench.wrk(base, lua, 8, threads=1, server_pid=proc.pid)
        delete_all(base, key)
        rounds.append({"without": without, "with_three": with_three})
    receiver.finish()
    stop(proc)
    return rounds


def receiver_down(db, key, contacts):
    clear_deliveries(db)
    proc, base = serve(db, "--webhook-retry-schedule", "3600")
    info_lua = bench.lua_file("webhook-info", [(f"/api/public/contact/{c}/info", key) for c in contacts])
    before = bench.wrk(base, info_lua, 16, server_pid=proc.pid)
    rss_before = bench.rss_anon_mb(proc.pid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    subscribe(base, key, dead, 3)
    lua = bench.lua_file("webhook-writes", [(f"/api/public/contact/{c}/update-metadata", key)
                                             for c in contacts], bench.WRITE_LUA)
    peak = rss_before
    started = time.monotonic()
    while count(db, "pending") < PENDING and time.monotonic() - started < 600:
        cmd = ["wrk", "-t1", "-c8", "-d5s", "-s", lua, base]
        subprocess.run(cmd, capture_output=True, check=True)
        peak = max(peak, bench.rss_anon_mb(proc.pid))
    pending = count(db, "pending")
    # Let the sender make every first attempt (each a refused connection) before reading.
    deadline = time.monotonic() + 300
    conn = sqlite3.connect(db)
    while time.monotonic() < deadline and conn.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND attempts = 0").fetchone()[0]:
        peak = max(peak, bench.rss_anon_mb(proc.pid))
        time.sleep(0.5)
    conn.close()
    after = bench.wrk(base, info_lua, 16, server_pid=proc.pid)
    rss_after = bench.rss_anon_mb(proc.pid)
    stop(proc)
    return {"pending": pending, "info_before": before, "info_after": after,
            "rss_before_mb": rss_before, "rss_after_mb": rss_after, "rss_peak_mb": max(peak, rss_after)}


def main():
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (bench/webhooks.sh installs it)")
    bench.WORK.mkdir(parents=True, exist_ok=True)
    fixture, keys = bench.generate(CONTACTS, tag="-webhooks")
    db, _ = bench.load(CONTACTS, fixture, tag="-webhooks")
    conn = sqlite3.connect(db)
    client, key = sorted(keys.items())[0]
    contacts = [r[0] for r in conn.execute("SELECT id FROM contacts WHERE client_id = ? LIMIT 5000", (client,))]
    conn.close()

    drains = [drain(db, key, contacts, s) for s in (1, 8)] if "drain" in PARTS else []
    lat = latency(db, key, contacts) if "latency" in PARTS else None
    rates = write_rates(db, key, contacts) if "writes" in PARTS else []
    down = receiver_down(db, key, contacts) if "down" in PARTS else None
    (bench.WORK / "webhooks.json").write_text(json.dumps(
        {"drain": drains, "latency": lat, "writes": rates, "down": down}, indent=2))

    print(f"machine: {os.cpu_count()} cores; {CONTACTS:,} contacts; receiver and load generators on the same cores")
    if drains:
        print("\n| deliveries stored, then sent | subscriptions | deliveries | seconds | deliveries/s |")
        print("|---|---:|---:|---:|---:|")
        for d in drains:
            print(f"| drain | {d['subscriptions']} | {d['deliveries']:,} | {d['seconds']:.2f} | {d['rate']:,.0f} |")
    if lat:
        print(f"\nEvent → receipt at {lat['rate']} writes/s for {bench.SECONDS} s ({lat['received']:,} of "
              f"{lat['writes']:,} received): p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, "
              f"max {lat['max_ms']:.1f} ms")
    if rates:
        print("\n| round | writes/s, no subscription | writes/s, 3 subscriptions | ratio | p99 ms without / with |")
        print("|---:|---:|---:|---:|---|")
        for i, r in enumerate(rates, start=1):
            w, t = r["without"], r["with_three"]
            print(f"| {i} | {w['rps']:,.0f} | {t['rps']:,.0f} | {t['rps'] / w['rps']:.2f} | "
                  f"{w['p99_ms']:.1f} / {t['p99_ms']:.1f} |")
    if down:
        b, a = down["info_before"], down["info_after"]
        print(f"\nReceiver down: {down['pending']:,} deliveries pending; /info c16 {b['rps']:,.0f} req/s before, "
              f"{a['rps']:,.0f} after ({a['rps'] / b['rps']:.2f}); RssAnon {down['rss_before_mb']:.1f} MiB before, "
              f"{down['rss_after_mb']:.1f} after, peak {down['rss_peak_mb']:.1f}")


if __name__ == "__main__":
    sys.exit(main())
