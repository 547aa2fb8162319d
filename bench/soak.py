#!/usr/bin/env python3
"""The soak behind bench/soak.sh. Every request carries its expected status in its
x-request-id, which the server echoes, so wrk's Lua can count every mismatch."""

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "contactd"
WORK = ROOT / "bench" / "work" / "soak"
SECONDS = int(os.environ.get("SOAK_SECONDS", "300"))
WARMUP = 20

LUA = """
local targets = {}
for line in io.lines("%(data)s") do
  local path, key, inm, expect = line:match("^(%%S+)\\t(%%S*)\\t(%%S*)\\t(%%d+)$")
  targets[#targets + 1] = {path, key, inm, expect}
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) mismatches = 0; counted = 0; seq = 0 end
function request()
  local t = targets[math.random(1, #targets)]
  seq = seq + 1
  local headers = {["x-request-id"] = "exp" .. t[4] .. "-" .. seq}
  if t[2] ~= "" then headers["x-api-key"] = t[2] end
  if t[3] ~= "" then headers["if-none-match"] = t[3] end
  return wrk.format("GET", t[1], headers)
end
function response(status, headers, body)
  counted = counted + 1
  local expect = tonumber(string.match(headers["x-request-id"] or "", "^exp(%%d+)-"))
  if expect ~= status then mismatches = mismatches + 1 end
end
function done(summary, latency, requests)
  local m, c = 0, 0
  for _, t in ipairs(threads) do m = m + t:get("mismatches"); c = c + t:get("counted") end
  local e = summary.errors
  io.write(string.format("SOAK %%d %%d %%d %%d %%d\\n", summary.requests, c, m,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def run(*args):
    return subprocess.run([BIN, *map(str, args)], check=True, capture_output=True, text=True)


def rss_anon_kib(pid):
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^RssAnon:\s+(\d+) kB", text, re.M).group(1))


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / "soak.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    fixture = WORK / "soak.json"
    fixture.unlink(missing_ok=True)  # generate keeps an existing file
    out = run("fixtures", "generate", "--contacts", "5000", "--seed", "3", "--out", fixture).stdout
    keys = dict(re.findall(r"^client (\S+) key (\S+)$", out, re.M))
    run("--db", db, "fixtures", "load", fixture)

    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT id, client_id FROM contacts").fetchall()
    conn.close()
    clients = sorted(keys)
    rng = random.Random(1)
    lines = []
    for cid, client in rng.sample(rows, 2000):
        path = f"/api/public/contact/{cid}/info"
        other = next(c for c in clients if c != client)
        lines += [
            (path, keys[client], "", 200),
            (path, keys[client], "*", 304),
            (path, "not-a-key", "", 401),
            (path, keys[other], "", 404),
            (f"/api/public/contact/{cid[:-1]}/info", keys[client], "", 400),
            (f"/api/public/contact/{uuid.UUID(int=rng.getrandbits(128), version=4)}/info", keys[client], "", 404),
        ]
    data = WORK / "targets.tsv"
    data.write_text("".join(f"{p}\t{k}\t{i}\t{e}\n" for p, k, i, e in lines))
    lua = WORK / "soak.lua"
    lua.write_text(LUA % {"data": data})

    # The 401 targets come from one address at full speed: the failed-key limit is
    # turned off here, or they would (rightly) turn into 429s.
    server = subprocess.Popen(
        [BIN, "--db", db, "serve", "--bind", "127.0.0.1:0", "--no-demo",
         "--auth-failures-per-minute", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = next(l.split()[-1] for l in server.stdout if l.startswith("listening on "))

    stop = threading.Event()
    writes = {"loads": 0, "keys_revoked": 0}

    def writer():
        # Other processes commit all the time: reloads (which change nothing but still
        # commit, so every cache is dropped) and keys made and revoked.
        while not stop.is_set():
            run("--db", db, "fixtures", "load", fixture)
            writes["loads"] += 1
            made = run("--db", db, "keys", "create", "--client", clients[0], "--name", "soak")
            listed = run("--db", db, "keys", "list", "--client", clients[0]).stdout
            key_id = [l.split("\t")[0] for l in listed.splitlines() if "\tsoak\t" in l and l.endswith("\t-")][0]
            run("--db", db, "keys", "revoke", key_id)
            writes["keys_revoked"] += 1

    wrk = subprocess.Popen(["wrk", "-t2", "-c32", f"-d{SECONDS}s", "-s", lua, base],
                           stdout=subprocess.PIPE, text=True)
    time.sleep(WARMUP)
    rss_warm = rss_anon_kib(server.pid)
    thread = threading.Thread(target=writer)
    thread.start()
    out, _ = wrk.communicate()
    rss_end = rss_anon_kib(server.pid)
    stop.set()
    thread.join()
    server.terminate()
    server.wait()

    m = re.search(r"^SOAK (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    if m is None:
        sys.exit(f"wrk gave no result:\n{out}")
    sent, checked, mismatches, socket_errors, _ = map(int, m.groups())
    growth = (rss_end - rss_warm) / rss_warm
    result = {
        "seconds": SECONDS, "requests": sent, "checked": checked,
        "unexpected_statuses": mismatches, "socket_errors": socket_errors,
        "fixture_loads": writes["loads"], "keys_revoked": writes["keys_revoked"],
        "rss_anon_after_warmup_kib": rss_warm, "rss_anon_at_end_kib": rss_end,
        "rss_growth": round(growth, 4),
    }
    print(json.dumps(result, indent=2))
    ok = mismatches == 0 and socket_errors == 0 and abs(growth) <= 0.10
    print("soak: PASS" if ok else "soak: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
