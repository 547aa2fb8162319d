#!/usr/bin/env python3
"""contactd benchmark harness; run it through bench/run.sh, which builds and installs wrk.

Besides /info, each size drives the family's read routes (list, search, messages,
pipelines) at 4 connections, and, with BENCH_BEFORE=<git revision> (default: the last
commit before the /info read model of schema V3), builds that revision beside this one
and measures its /info against /healthz in the same run, on a data set generated and
loaded by its own binary. It also times a load of the largest set without
conversations. Every wrk run records the server's and wrk's CPU time per request.

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
FAMILY_SAMPLE = 20_000  # distinct requests per family route
# Few connections: the family's figures are about each request's own time, not queueing.
FAMILY_CONNECTIONS = 4
BEFORE = os.environ.get("BENCH_BEFORE", "96f3cb3")
# Writes (SPEC 7.5) to random contacts of the largest set: alone, and beside /info reads.
WRITE_CONNECTIONS = (8, 16)
READ_CONNECTIONS_BESIDE_WRITES = 16
# The mixed run is noisy on 2 shared cores (±15 % run to run): it is repeated.
WRITE_ROUNDS = int(os.environ.get("BENCH_WRITE_ROUNDS", "3"))
# Reuse the fixture and database of an earlier run (no load figures then): for working
# on the read path without waiting minutes for the load.
REUSE = os.environ.get("BENCH_REUSE") == "1"

# A wrk script: random (path, key) targets from a data file, a request function, and
# one RESULT line at the end for wrk_result().
LUA_TARGETS = """
local targets = {}
for line in io.lines("%(data)s") do
  local path, key = line:match("^(%%S+)\t(%%S+)$")
  targets[#targets + 1] = {path, key}
end
local n = #targets
local counter = 0
math.randomseed(%(seed)d)
"""
LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""
LUA = LUA_TARGETS + """
request = function()
  local t = targets[math.random(1, n)]
  return wrk.format("GET", t[1], {["x-api-key"] = t[2]})
end
""" + LUA_DONE


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def generate(n, binary=BIN, tag="", messages=None):
    out = WORK / f"{n}{tag}.json"
    saved = WORK / f"{n}{tag}.keys.json"
    if REUSE and out.exists() and saved.exists():
        return out, json.loads(saved.read_text())
    extra = [] if messages is None else ["--messages-per-contact", str(messages)]
    out.unlink(missing_ok=True)  # generate keeps an existing file
    res = run([binary, "fixtures", "generate", "--contacts", str(n), "--seed", "1", "--out", out] + extra)
    keys = dict(re.findall(r"^client (\S+) key (\S+)$", res.stdout, re.M))
    saved.write_text(json.dumps(keys))
    return out, keys


def load(n, fixture, binary=BIN, tag=""):
    db = WORK / f"{n}{tag}.db"
    if REUSE and db.exists():
        return db, float("nan")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run([binary, "--db", db, "migrate"])
    started = time.monotonic()
    run([binary, "--db", db, "fixtures", "load", fixture])
    seconds = time.monotonic() - started
    return db, seconds


# A CRM sync: the same few keys written again and again, so metadata does not grow.
WRITE_LUA = LUA_TARGETS + """
request = function()
  local t = targets[math.random(1, n)]
  counter = counter + 1
  return wrk.format("POST", t[1], {["x-api-key"] = t[2], ["content-type"] = "application/json"},
    string.format('{"crmStage":"stage-%%d","leadScore":%%d}', counter %% 7, counter))
end
""" + LUA_DONE


def load_without_conversations(n):
    """The load rate of the same contacts with no messages; the file and database are
    removed afterwards (nothing is served from them)."""
    fixture, _ = generate(n, tag="-plain", messages=0)
    db, seconds = load(n, fixture, tag="-plain")
    size = db.stat().st_size / 2**20
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return {"contacts": n, "load_seconds": seconds, "load_rate": n / seconds, "db_mb": size}


def family_targets(db, keys):
    """Requests for each family route, drawn at random from the loaded data."""
    rng = random.Random(11)
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT c.id, c.client_id, s.phone_digits, c.created_at FROM contacts c "
        "JOIN contact_search_source s ON s.contact_id = c.id").fetchall()
    with_messages = [r[0] for r in conn.execute(
        "SELECT DISTINCT ai_contact_id FROM messages").fetchall()]
    owner = {r[0]: r[1] for r in rows}
    conn.close()
    sample = [rng.choice(rows) for _ in range(FAMILY_SAMPLE)]

    def iso(ms):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + "Z"

    phones = [r for r in sample if r[2]]
    talkers = [rng.choice(with_messages) for _ in range(FAMILY_SAMPLE)] if with_messages else []
    return {
        # An incremental sync: the next 100 contacts created after a point in time.
        "list 100": [(f"/api/public/contacts?created_after={iso(r[3])}&limit=100", keys[r[1]])
                     for r in sample],
        # The last 8 digits of a real phone: a rare piece, through the trigram index.
        "search phone": [(f"/api/public/contacts/search?phone={r[2][-8:]}", keys[r[1]])
                         for r in phones],
        # A whole domain: a common piece, walked newest first.
        "search domain": [("/api/public/contacts/search?email=@example.com", keys[c])
                          for c in sorted(keys)],
        "messages p1": [(f"/api/public/contact/v2/{cid}/messages?page=1", keys[owner[cid]])
                        for cid in talkers],
        "pipeline": [("/api/public/pipeline", keys[c]) for c in sorted(keys)],
    }


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


def lua_file(name, pairs, template=LUA):
    # Targets go in a data file: Lua refuses table literals of 100k entries.
    data = WORK / f"{name}.tsv"
    data.write_text("".join(f"{path}\t{key}\n" for path, key in pairs))
    path = WORK / f"{name}.lua"
    path.write_text(template % {"data": data, "seed": 42})
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


def wait_page_check(proc):
    """Waits for the server's page check at start-up to end (its thread, named
    contactd-page-check, to be gone): it reads the whole file beside the API, and at 1M
    contacts it takes about a minute, which would be measured too."""
    tasks = Path(f"/proc/{proc.pid}/task")
    while proc.poll() is None:
        names = []
        for task in tasks.iterdir():
            try:
                names.append((task / "comm").read_text())
            except OSError:
                pass  # a thread that just ended
        if not any(name.startswith("contactd-page") for name in names):
            return
        time.sleep(0.2)
    raise SystemExit("contactd ended before its page check did")


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


def process_cpu_seconds(pid):
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, lua, connections, threads=2, server_pid=None):
    """One wrk run; with `server_pid`, also the CPU time per request of the server and of
    wrk itself (they share the cores, so both decide the rate)."""
    before = process_cpu_seconds(server_pid) if server_pid else None
    t0 = os.times()
    result = wrk_result(run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{SECONDS}s", "-s", lua, url]))
    t1 = os.times()
    if server_pid:
        n = max(result["requests"], 1)
        result["server_us"] = 1e6 * (process_cpu_seconds(server_pid) - before) / n
        result["wrk_us"] = 1e6 * ((t1.children_user - t0.children_user)
                                  + (t1.children_system - t0.children_system)) / n
    return result


def wrk_result(res):
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
        wait_page_check(proc)
        runs = []
        peak_rss = 0.0
        for c in [FAMILY_CONNECTIONS] + CONNECTIONS:
            for route, lua in (("/healthz", health), ("/info 200", found)):
                r = wrk(base, lua, c, server_pid=proc.pid)
                r.update(route=route, connections=c)
                runs.append(r)
                peak_rss = max(peak_rss, rss_anon_mb(proc.pid))
        r = wrk(base, missing, 64, server_pid=proc.pid)
        r.update(route="/info 404", connections=64)
        runs.append(r)
        peak_rss = max(peak_rss, rss_anon_mb(proc.pid))
        for route, pairs in family_targets(db, keys).items():
            if not pairs:
                continue
            r = wrk(base, lua_file(f"{route.replace(' ', '-')}-{n}", pairs), FAMILY_CONNECTIONS,
                    server_pid=proc.pid)
            r.update(route=route, connections=FAMILY_CONNECTIONS)
            runs.append(r)
            peak_rss = max(peak_rss, rss_anon_mb(proc.pid))
        writes = None
        if n == max(SIZES):
            writes = [bench_writes(base, n, known, found) for _ in range(WRITE_ROUNDS)]
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
        "writes": writes,
    }


def bench_writes(base, n, known, reads_lua):
    """update-metadata to random contacts: alone, then beside /info reads of random
    contacts at two write concurrencies; /info alone in the same round as the baseline.
    One wrk thread per generator, so two generators take the share of the cores one
    did."""
    writes_lua = lua_file(f"writes-{n}", [(p.replace("/info", "/update-metadata"), k)
                                          for p, k in known], WRITE_LUA)
    result = {
        "writes_alone": wrk(base, writes_lua, max(WRITE_CONNECTIONS), threads=1),
        "reads_alone": wrk(base, reads_lua, READ_CONNECTIONS_BESIDE_WRITES, threads=1),
        "mixed": [],
    }
    for connections in WRITE_CONNECTIONS:
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{SECONDS}s", "-s", writes_lua, base]
        writer = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reads = wrk(base, reads_lua, READ_CONNECTIONS_BESIDE_WRITES, threads=1)
        out, err = writer.communicate()
        writes = wrk_result(subprocess.CompletedProcess(cmd, 0, out, err))
        result["mixed"].append({"write_connections": connections, "writes": writes, "reads": reads})
    return result


def writes_table(results):
    lines = ["| contacts | round | run | writes/s | write p50 ms | write p99 ms | /info req/s | /info p99 ms | /info ÷ alone | non-2xx |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        for i, w in enumerate(res.get("writes") or [], start=1):
            base = w["reads_alone"]["rps"]
            rows = [(f"writes alone, c{max(WRITE_CONNECTIONS)}", w["writes_alone"], None),
                    (f"/info alone, c{READ_CONNECTIONS_BESIDE_WRITES}", None, w["reads_alone"])]
            rows += [(f"writes c{m['write_connections']} + /info c{READ_CONNECTIONS_BESIDE_WRITES}",
                      m["writes"], m["reads"]) for m in w["mixed"]]
            for name, wr, rd in rows:
                cells = [f"{wr['rps']:,.0f}", f"{wr['p50_ms']:.2f}", f"{wr['p99_ms']:.2f}"] if wr else ["", "", ""]
                cells += [f"{rd['rps']:,.0f}", f"{rd['p99_ms']:.2f}", f"{rd['rps'] / base:.2f}"] if rd else ["", "", ""]
                errors = sum(x["non_2xx"] + x["socket_errors"] for x in (wr, rd) if x)
                lines.append(f"| {res['contacts']:,} | {i} | {name} | " + " | ".join(cells) + f" | {errors} |")
    return "\n".join(lines)


def bench_before(n):
    """/info and /healthz of the BEFORE revision, built beside this checkout."""
    src, target = WORK / "before-src", WORK / "before-target"
    if not src.exists():
        run(["git", "-C", ROOT, "worktree", "add", "--detach", src, BEFORE])
    run(["git", "-C", src, "checkout", "--quiet", "--detach", BEFORE])
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=src, env=env, check=True)
    binary = target / "release" / "contactd"
    fixture, keys = generate(n, binary, f"-before-{BEFORE}")
    db, _ = load(n, fixture, binary, f"-before-{BEFORE}")
    known = targets(db, keys, known=True)
    health = lua_file(f"health-before-{n}", [("/healthz", "none")])
    found = lua_file(f"found-before-{n}", known)
    proc = subprocess.Popen([binary, "--db", db, "serve", "--bind", "127.0.0.1:0", "--no-demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = wait_listening(proc)  # (a build from before the page check: nothing to wait for)
        runs = []
        for route, lua in (("/healthz", health), ("/info 200", found)):
            r = wrk(base, lua, 64)
            r.update(route=route, connections=64)
            runs.append(r)
    finally:
        proc.terminate()
        proc.wait()
    return {"contacts": n, "revision": BEFORE, "runs": runs}


def before_table(before, results):
    now = next(r for r in results if r["contacts"] == before["contacts"])
    def pick(runs, route):
        return next(r for r in runs if r["route"] == route and r["connections"] == 64)
    lines = ["| build | /healthz req/s | /info req/s | /info × /healthz | /info p99 ms |",
             "|---|---:|---:|---:|---:|"]
    for name, runs in ((f"before ({before['revision']})", before["runs"]), ("this build", now["runs"])):
        h, i = pick(runs, "/healthz"), pick(runs, "/info 200")
        lines.append(f"| {name} | {h['rps']:,.0f} | {i['rps']:,.0f} | {i['rps'] / h['rps']:.2f} | {i['p99_ms']:.2f} |")
    return "\n".join(lines)


def table(results):
    lines = [
        "| contacts | route | conns | req/s | × /healthz | p50 ms | p99 ms | server CPU µs/req | wrk CPU µs/req | non-2xx | socket errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        ceiling = {r["connections"]: r["rps"] for r in res["runs"] if r["route"] == "/healthz"}
        for r in res["runs"]:
            ratio = r["rps"] / ceiling.get(r["connections"], ceiling[64])
            lines.append(
                f"| {res['contacts']:,} | {r['route']} | {r['connections']} | {r['rps']:,.0f} | "
                f"{ratio:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r.get('server_us', float('nan')):.1f} | "
                f"{r.get('wrk_us', float('nan')):.1f} | {r['non_2xx']} | {r['socket_errors']} |")
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
    plain = None if REUSE else load_without_conversations(max(SIZES))
    before = bench_before(max(SIZES)) if BEFORE else None
    (WORK / "results.json").write_text(json.dumps({"sizes": results, "plain": plain, "before": before},
                                                  indent=2))
    print(f"machine: {os.cpu_count()} cores, {cpu}; wrk -t2 -d{SECONDS}s on loopback, "
          f"server and wrk on the same cores")
    print(table(results))
    if plain:
        print(f"\nWithout conversations: {plain['contacts']:,} contacts in {plain['load_seconds']:.1f} s, "
              f"{plain['load_rate']:,.0f} contacts/s, {plain['db_mb']:,.0f} MiB")
    print()
    print(writes_table(results))
    if before:
        print()
        print(before_table(before, results))


if __name__ == "__main__":
    sys.exit(main())
