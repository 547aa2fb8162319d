#!/usr/bin/env python3
"""contactd benchmark harness; run it through bench/run.sh, which builds and installs wrk.

For each data set size it generates a fixture file, loads it (timed), starts the release
server, measures the time from process start to the first 200, then drives wrk over
loopback: GET /healthz (no database touch: the ceiling), /info for random contacts of the
loaded set (200s) and /info for random unknown ids (404s), at several connection counts.
Every figure is also given as a ratio to /healthz measured in the same run, so the table
holds on a noisy machine. Bounded: each wrk run lasts BENCH_SECONDS (default 10).
"""

import json
import os
import platform
import random
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "contactd"
WORK = ROOT / "bench" / "work"
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,1000000").split(",")]
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = [16, 64, 256]
SAMPLE = 100_000  # distinct (key, contact) pairs wrk picks from at random

LUA = """
local targets = {}
for line in io.lines("%(data)s") do
  local path, key = line:match("^(%%S+)\t(%%S+)$")
  targets[#targets + 1] = {path, key}
end
local n = #targets
math.randomseed(%(seed)d)
request = function()
  local t = targets[math.random(1, n)]
  return wrk.format("GET", t[1], {["x-api-key"] = t[2]})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def generate(n):
    out = WORK / f"{n}.json"
    res = run([BIN, "fixtures", "generate", "--contacts", str(n), "--seed", "1", "--out", out])
    keys = dict(re.findall(r"^client (\S+) key (\S+)$", res.stdout, re.M))
    return out, keys


def load(n, fixture):
    db = WORK / f"{n}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run([BIN, "--db", db, "migrate"])
    started = time.monotonic()
    run([BIN, "--db", db, "fixtures", "load", fixture])
    seconds = time.monotonic() - started
    return db, seconds


def targets(db, keys, known):
    conn = sqlite3.connect(db)
    count = conn.execute("SELECT count(*) FROM contacts").fetchone()[0]
    if known:
        # A random sample of the whole loaded set.
        every = conn.execute("SELECT id, client_id FROM contacts").fetchall()
        rows = random.Random(7).sample(every, min(SAMPLE, count))
    else:
        clients = sorted(keys)
        rows = [(str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)), clients[i % len(clients)])
                for i in range(SAMPLE)]
    conn.close()
    return [(f"/api/public/contact/{cid}/info", keys[client]) for cid, client in rows]


def lua_file(name, pairs):
    # Targets go in a data file: Lua refuses table literals of 100k entries.
    data = WORK / f"{name}.tsv"
    data.write_text("".join(f"{path}\t{key}\n" for path, key in pairs))
    path = WORK / f"{name}.lua"
    path.write_text(LUA % {"data": data, "seed": 42})
    return path


def start_server(db):
    started = time.monotonic()
    proc = subprocess.Popen(
        [BIN, "--db", db, "serve", "--bind", "127.0.0.1:0", "--no-demo"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, started


def wait_listening(proc):
    for line in proc.stdout:
        if line.startswith("listening on "):
            return line.split()[-1]
    raise SystemExit("contactd did not start")


def first_200(base, started, target):
    path, key = target
    while True:
        try:
            req = urllib.request.Request(base + path, headers={"x-api-key": key})
            with urllib.request.urlopen(req, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.001)


def wrk(url, lua, connections):
    res = run(["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "-s", lua, url])
    m = re.search(r"^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", res.stdout, re.M)
    if m is None:
        raise SystemExit(f"wrk gave no result:\n{res.stdout}\n{res.stderr}")
    requests, duration_us, p50, p99, status_errors, socket_errors = map(int, m.groups())
    return {
        "rps": requests / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "non_2xx": status_errors,
        "socket_errors": socket_errors,
        "requests": requests,
    }


def rss_anon_mb(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^RssAnon:\s+(\d+) kB", status, re.M).group(1)) / 1024


def bench_size(n):
    fixture, keys = generate(n)
    db, load_seconds = load(n, fixture)
    known = targets(db, keys, known=True)
    unknown = targets(db, keys, known=False)
    health = lua_file(f"health-{n}", [("/healthz", "none")])
    found = lua_file(f"found-{n}", known)
    missing = lua_file(f"missing-{n}", unknown)

    proc, started = start_server(db)
    try:
        base = wait_listening(proc)
        startup = first_200(base, started, known[0])
        runs = []
        peak_rss = 0.0
        for c in CONNECTIONS:
            for route, lua in (("/healthz", health), ("/info 200", found)):
                r = wrk(base, lua, c)
                r.update(route=route, connections=c)
                runs.append(r)
                peak_rss = max(peak_rss, rss_anon_mb(proc.pid))
        r = wrk(base, missing, 64)
        r.update(route="/info 404", connections=64)
        runs.append(r)
        peak_rss = max(peak_rss, rss_anon_mb(proc.pid))
    finally:
        proc.terminate()
        proc.wait()
    db_mb = sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists()) / 2**20
    return {
        "contacts": n,
        "load_seconds": load_seconds,
        "load_rate": n / load_seconds,
        "db_mb": db_mb,
        "startup_ms": startup * 1000,
        "peak_rss_anon_mb": peak_rss,
        "runs": runs,
    }


def table(results):
    lines = [
        "| contacts | route | conns | req/s | × /healthz | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        ceiling = {r["connections"]: r["rps"] for r in res["runs"] if r["route"] == "/healthz"}
        for r in res["runs"]:
            ratio = r["rps"] / ceiling.get(r["connections"], ceiling[64])
            lines.append(
                f"| {res['contacts']:,} | {r['route']} | {r['connections']} | {r['rps']:,.0f} | "
                f"{ratio:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} | {r['socket_errors']} |")
    lines += [
        "",
        "| contacts | fixture load | load rate | DB size | start → first 200 | peak RssAnon under load |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        lines.append(
            f"| {res['contacts']:,} | {res['load_seconds']:.1f} s | {res['load_rate']:,.0f} contacts/s | "
            f"{res['db_mb']:,.0f} MiB | {res['startup_ms']:.0f} ms | {res['peak_rss_anon_mb']:.1f} MiB |")
    if len(results) >= 2:
        def info64(res):
            return next(r["rps"] for r in res["runs"] if r["route"] == "/info 200" and r["connections"] == 64)
        small, big = results[0], results[-1]
        lines += ["", f"/info at {big['contacts']:,} ÷ at {small['contacts']:,} contacts (c=64): "
                      f"{info64(big) / info64(small):.2f}"]
    return "\n".join(lines)


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    results = [bench_size(n) for n in SIZES]
    (WORK / "results.json").write_text(json.dumps(results, indent=2))
    print(f"machine: {os.cpu_count()} cores, {cpu}; wrk -t2 -d{SECONDS}s on loopback, "
          f"server and wrk on the same cores")
    print(table(results))


if __name__ == "__main__":
    sys.exit(main())
