#!/usr/bin/env python3
"""Request-journal benchmark (issue 19); run it through bench/journal.sh, which builds
and installs wrk.

On the benchmark's generated set of BENCH_JOURNAL_CONTACTS contacts (default 1,000,000,
the file and database bench/run.sh makes, reused when present with BENCH_REUSE=1), two
servers over the same file, one at a time, each driven by wrk on /info for random known
contacts (200s, about 4 KiB each, every one a journal entry): the default server (journal
on, 10,000 entries) and one started with --no-journal. The servers alternate for
BENCH_JOURNAL_ROUNDS rounds (default 16) of BENCH_JOURNAL_SECONDS (default 5) at 16
connections, so a drift of the machine hits both alike; the table gives each round's
ratio. Many short rounds rather than a few long ones: this machine's rate drifts ±15 %
over minutes, and only what changes faster than a round can favour one server.

It also reports the servers' RssAnon after the runs: the journal's is full by then
(10,000 entries of /info answers), the other's holds none.
"""

import json
import re
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the shared harness: generate, load, wrk, lua files)

CONTACTS = int(os.environ.get("BENCH_JOURNAL_CONTACTS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_JOURNAL_ROUNDS", "16"))
bench.SECONDS = int(os.environ.get("BENCH_JOURNAL_SECONDS", "5"))
CONNECTIONS = 16


def serve(db, *flags):
    proc = subprocess.Popen([bench.BIN, "--db", db, "serve", "--bind", "127.0.0.1:0", "--no-demo", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = bench.wait_listening(proc)
    bench.wait_page_check(proc)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, base


def journal_held(base):
    """The journal's entries and bytes, as /metrics counts them."""
    with urllib.request.urlopen(base + "/metrics") as r:
        text = r.read().decode()
    gauge = lambda name: int(re.search(rf"^contactd_{name} (\d+)$", text, re.M).group(1))
    return gauge("journal_entries"), gauge("journal_bytes")


def main():
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (bench/journal.sh installs it)")
    bench.WORK.mkdir(parents=True, exist_ok=True)
    fixture, keys = bench.generate(CONTACTS)
    db, _ = bench.load(CONTACTS, fixture)
    found = bench.lua_file(f"found-{CONTACTS}", bench.targets(db, keys, known=True))

    servers = {"journal": serve(db), "no journal": serve(db, "--no-journal")}
    rounds = []
    try:
        # A warm-up each: the first pass over a cold page cache is not the journal's cost.
        for proc, base in servers.values():
            bench.wrk(base, found, CONNECTIONS)
        for i in range(ROUNDS):
            r = {}
            # Each round starts with the other server than the last: a drift of the
            # machine within a round does not always favour the same one.
            order = list(servers.items()) if i % 2 == 0 else list(servers.items())[::-1]
            for name, (proc, base) in order:
                r[name] = bench.wrk(base, found, CONNECTIONS, server_pid=proc.pid)
            rounds.append(r)
        rss = {name: bench.rss_anon_mb(proc.pid) for name, (proc, _) in servers.items()}
        entries, held_bytes = journal_held(servers["journal"][1])
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    (bench.WORK / "journal.json").write_text(json.dumps(
        {"rounds": rounds, "rss_mb": rss, "entries": entries, "bytes": held_bytes}, indent=2))

    print(f"machine: {os.cpu_count()} cores; {CONTACTS:,} contacts; /info 200 at c{CONNECTIONS}, "
          f"{bench.SECONDS} s a run; wrk on the same cores")
    print("\n| round | req/s, journal on | req/s, --no-journal | ratio | p99 ms on / off | server µs/req on / off |")
    print("|---:|---:|---:|---:|---|---|")
    for i, r in enumerate(rounds, start=1):
        on, off = r["journal"], r["no journal"]
        print(f"| {i} | {on['rps']:,.0f} | {off['rps']:,.0f} | {on['rps'] / off['rps']:.3f} | "
              f"{on['p99_ms']:.2f} / {off['p99_ms']:.2f} | {on['server_us']:.1f} / {off['server_us']:.1f} |")
    total = sum(r["journal"]["rps"] for r in rounds) / sum(r["no journal"]["rps"] for r in rounds)
    median = statistics.median(r["journal"]["rps"] / r["no journal"]["rps"] for r in rounds)
    print(f"\nAll rounds: {total:.3f} (median of the rounds' ratios {median:.3f}). RssAnon after the runs: "
          f"journal on {rss['journal']:.1f} MiB ({entries:,} entries held, {held_bytes / 2**20:.1f} MiB as the "
          f"journal counts them), --no-journal {rss['no journal']:.1f} MiB.")


if __name__ == "__main__":
    main()
