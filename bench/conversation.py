#!/usr/bin/env python3
"""Conversation-writes benchmark (issue 18); run it through bench/conversation.sh.

On the benchmark's generated set of BENCH_CONV_CONTACTS contacts (default 1,000,000,
the file and database bench/run.sh makes, reused with BENCH_REUSE=1), one server, and
for each write route of SPEC 11 a wrk run of writes at 8 and at 16 connections beside a wrk run
of /info reads of random known contacts at 16 connections, with /info alone at 16 in
the same round as the baseline (one wrk thread each, as the update-metadata benchmark
of bench/run.sh does). BENCH_CONV_ROUNDS rounds (default 3) of BENCH_CONV_SECONDS
(default 10) each, because these two shared cores move ±15 % from run to run.

The writes, each a real change: an upsert of a known WhatsApp contact found by its
phone with a new lead score (11.1); a ticket opened or moved for a known contact with a
first message (11.2); a customer's inbound message through the sandbox (11.4), to
contacts taken in order; a session message to those same contacts, inside the window
that opened (11.3); and a ticket closed through the sandbox, each a different active
ticket (11.4). Then the phone lookup alone: a session message by `phone` to contacts
whose window is closed, at one connection, answered 400 right after the lookup: its
median is an upper bound of finding a contact by phone digits, HTTP included.

A database made before channels existed gets one WhatsApp channel per client first,
by a fixture load of its clients (the generator now makes them).
"""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the shared harness: generate, load, wrk, lua files)

CONTACTS = int(os.environ.get("BENCH_CONV_CONTACTS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_CONV_ROUNDS", "3"))
bench.SECONDS = int(os.environ.get("BENCH_CONV_SECONDS", "10"))
# Write connections, as the update-metadata benchmark of bench/run.sh: 8 and 16.
WRITERS = tuple(int(c) for c in os.environ.get("BENCH_CONV_WRITERS", "8,16").split(","))
READERS = 16
SAMPLE = 50_000
# Distinct active tickets each round closes: more than a round's closes, or the run
# comes round to tickets it closed and measures 409s.
CLOSE_SAMPLE = 60_000

# POST targets: (path, key, body) per line; COUNTER in a body becomes the request's
# number. In order (each target once, then again) or at random.
LUA_POSTS = """
local targets = {}
for line in io.lines("%(data)s") do
  local path, key, body = line:match("^([^\\t]+)\\t([^\\t]+)\\t(.*)$")
  targets[#targets + 1] = {path, key, body}
end
local n = #targets
local counter = 0
math.randomseed(42)
request = function()
  counter = counter + 1
  local t
  if %(in_order)s then t = targets[(counter - 1) %% n + 1] else t = targets[math.random(1, n)] end
  local body = (t[3]:gsub("COUNTER", tostring(counter)))
  return wrk.format("POST", t[1], {["x-api-key"] = t[2], ["content-type"] = "application/json"}, body)
end
""" + bench.LUA_DONE


def posts_lua(name, rows, in_order=False):
    data = bench.WORK / f"conv-{name}.tsv"
    data.write_text("".join(f"{p}\t{k}\t{b}\n" for p, k, b in rows))
    path = bench.WORK / f"conv-{name}.lua"
    path.write_text(LUA_POSTS % {"data": data, "in_order": "true" if in_order else "false"})
    return path


def ensure_channels(db):
    """One WhatsApp channel per client, loaded as fixtures when the set predates them."""
    conn = sqlite3.connect(db)
    try:
        missing = conn.execute(
            "SELECT id, name FROM clients WHERE id NOT IN "
            "(SELECT client_id FROM channels WHERE type = 'whatsapp')").fetchall()
    except sqlite3.OperationalError:  # schema before V8: every client lacks one
        missing = conn.execute("SELECT id, name FROM clients").fetchall()
    conn.close()
    if not missing:
        return
    clients = [{"id": cid, "name": name, "channels": [
        {"id": f"c4b{i:05x}-0000-4000-8000-000000000001", "type": "whatsapp",
         "phone_number": f"+1556{i:07}", "phone_id": f"bench-{i}-whatsapp"}]}
        for i, (cid, name) in enumerate(missing)]
    overlay = bench.WORK / "conv-channels.json"
    overlay.write_text(json.dumps({"clients": clients}))
    bench.run([bench.BIN, "--db", db, "fixtures", "load", "--quiet", overlay])


def targets(db, keys):
    rng = random.Random(18)
    conn = sqlite3.connect(db)
    channel = dict(conn.execute(
        "SELECT client_id, phone_id FROM channels WHERE type = 'whatsapp' ORDER BY position DESC"))
    stages = {}
    for client, stage in conn.execute(
            "SELECT p.client_id, s.id FROM stages s JOIN pipelines p ON p.id = s.pipeline_id"):
        stages.setdefault(client, []).append(stage)
    phones = conn.execute(
        "SELECT c.id, c.client_id, s.phone_digits FROM contacts c "
        "JOIN contact_search_source s ON s.contact_id = c.id "
        "WHERE c.platform = 'whatsapp' AND s.phone_digits <> ''").fetchall()
    tickets = conn.execute(
        "SELECT active_ticket_v2_id, client_id FROM contacts "
        "WHERE active_ticket_v2_id IS NOT NULL").fetchall()
    conn.close()
    # Half at most for the writes: the other half are the lookups' contacts, none of
    # which writes in during the run (so their window stays closed).
    rng.shuffle(phones)
    half = min(SAMPLE, len(phones) // 2)
    whatsapp, rest = phones[:half], phones[half:2 * half]
    runs = ROUNDS * len(WRITERS)
    # Each run closes tickets of its own; a small set has too few for long runs, and
    # its close figures then count 409s (the non-2xx column says how many).
    per_run = min(CLOSE_SAMPLE, len(tickets) // runs)
    if per_run < CLOSE_SAMPLE:
        print(f"bench: {len(tickets):,} active tickets, {per_run:,} for each close run "
              "(a run that closes more meets tickets closed already)", file=sys.stderr)
    closable = rng.sample(tickets, runs * per_run)
    upsert = [("/api/public/customer/upsert/info", keys[c], json.dumps(
        {"channel": "whatsapp", "channel_phone_number": channel[c],
         "contact_phone_number": f"+{d}", "meta_data": {"leadScore": "COUNTER"}}))
        for _, c, d in whatsapp]
    open_ = [(f"/api/public/ticket/open/whatsapp/{channel[c]}", keys[c], json.dumps(
        {"to_phone_number": d, "stage_id": rng.choice(stages[c]),
         "message": {"content": "Seguimiento COUNTER", "ai_generated": False}}))
        for _, c, d in whatsapp]
    inbound = [(f"/api/sandbox/contact/{i}/inbound-message", keys[c],
                json.dumps({"body": "¿Sigue disponible? COUNTER"})) for i, c, _ in whatsapp]
    session = lambda n: [("/api/public/whatsapp/message/session", keys[c], json.dumps(
        {"contact_id": i, "message": "Sí, queda uno COUNTER"})) for i, c, _ in whatsapp[:n]]
    close = [[(f"/api/sandbox/ticket/{t}/close", keys[c], "")
              for t, c in closable[r * per_run:(r + 1) * per_run]] for r in range(runs)]
    # Phones of contacts outside the sample: no inbound message from this run, so their
    # window is closed (or has never opened) and the answer is the 400 after the lookup.
    # A sending number the client does not have: whatever the window, the answer (a 400
    # or 404) comes after the lookup, and nothing is written.
    lookup = [("/api/public/whatsapp/message/session", keys[c], json.dumps(
        {"phone": f"+{d}", "message": "hola", "from_phone_number": "+19990000000"}))
        for _, c, d in rest]
    return upsert, open_, inbound, session, close, lookup


def mixed(base, writes_lua, reads_lua, writers):
    cmd = ["wrk", "-t1", f"-c{writers}", f"-d{bench.SECONDS}s", "-s", writes_lua, base]
    writer = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads = bench.wrk(base, reads_lua, READERS, threads=1)
    out, err = writer.communicate()
    writes = bench.wrk_result(subprocess.CompletedProcess(cmd, 0, out, err))
    return writes, reads


def main():
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (bench/conversation.sh installs it)")
    bench.WORK.mkdir(parents=True, exist_ok=True)
    fixture, keys = bench.generate(CONTACTS)
    db, _ = bench.load(CONTACTS, fixture)
    bench.run([bench.BIN, "--db", db, "migrate"])
    ensure_channels(db)
    found = bench.lua_file(f"found-{CONTACTS}", bench.targets(db, keys, known=True))
    upsert, open_, inbound, session, close, lookup = targets(db, keys)
    upsert_lua = posts_lua("upsert", upsert)
    open_lua = posts_lua("open", open_)
    inbound_lua = posts_lua("inbound", inbound, in_order=True)
    lookup_lua = posts_lua("lookup", lookup)

    proc = subprocess.Popen([bench.BIN, "--db", db, "serve", "--bind", "127.0.0.1:0", "--no-demo",
                             "--no-journal"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = bench.wait_listening(proc)
    bench.wait_page_check(proc)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    rounds = []
    try:
        bench.wrk(base, found, READERS, threads=1)  # warm the page cache
        runs = [(r, w) for r in range(ROUNDS) for w in WRITERS]
        for k, (r, writers) in enumerate(runs):
            row = {"round": r + 1, "writers": writers,
                   "reads_alone": bench.wrk(base, found, READERS, threads=1, server_pid=proc.pid)}
            row["upsert"] = mixed(base, upsert_lua, found, writers)
            row["ticket open"] = mixed(base, open_lua, found, writers)
            row["sandbox inbound"] = mixed(base, inbound_lua, found, writers)
            # Session messages go to the contacts that just wrote in: their window is open.
            written = min(row["sandbox inbound"][0]["requests"], len(inbound))
            session_lua = posts_lua("session", session(written))
            row["session message"] = mixed(base, session_lua, found, writers)
            close_lua = posts_lua(f"close-{k}", close[k], in_order=True)
            row["sandbox close"] = mixed(base, close_lua, found, writers)
            rounds.append(row)
        bench_lookup = bench.wrk(base, lookup_lua, 1, threads=1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    (bench.WORK / "conversation.json").write_text(json.dumps(
        {"rounds": rounds, "lookup": bench_lookup}, indent=2))

    print(f"machine: {os.cpu_count()} cores; {CONTACTS:,} contacts; writes beside /info "
          f"c{READERS}, {bench.SECONDS} s a run; wrk on the same cores")
    print("\n| round | route | write conns | writes/s | write p50 ms | write p99 ms | "
          "/info req/s beside | /info ÷ alone | non-2xx |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rounds:
        i, alone = row["round"], row["reads_alone"]
        print(f"| {i} | /info alone | | | | | {alone['rps']:,.0f} | 1.00 | {alone['non_2xx']} |")
        for route in ("upsert", "ticket open", "sandbox inbound", "session message", "sandbox close"):
            w, reads = row[route]
            print(f"| {i} | {route} | {row['writers']} | {w['rps']:,.0f} | {w['p50_ms']:.2f} | "
                  f"{w['p99_ms']:.2f} | {reads['rps']:,.0f} | {reads['rps'] / alone['rps']:.2f} | "
                  f"{w['non_2xx']} |")
    lk = bench_lookup
    print(f"\nContact by phone digits (a session message by `phone` from a number the client does "
          f"not have: refused after the lookup, nothing written), one connection: p50 "
          f"{lk['p50_ms']:.3f} ms, p99 {lk['p99_ms']:.3f} ms, {lk['rps']:,.0f} req/s; "
          f"{lk['requests'] - lk['non_2xx']} of {lk['requests']:,} answers were 2xx (should be 0).")


if __name__ == "__main__":
    main()
