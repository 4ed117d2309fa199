#!/usr/bin/env python3
"""The SQLite store alone: what storing a message and its answer costs, without HTTP,
turns or thread hand-offs, beside what SQLite itself needs for the same statements.

  baton    `store-bench` (bench/StoreBench): Baton's SQLiteStore, driven as the gateway
           drives it under load. Each commit holds --batch new messages (each inserted
           with its turn's "running") and the turn ends of the batch before (a reply event
           and "done"), over --sessions sessions, until --messages are answered. CPU time
           (getrusage) per message, and the pages the commits wrote to the WAL
           (SQLITE_DBSTATUS_CACHE_WRITE), which no machine's load changes.
  control  python's sqlite3 on the schema store-bench made (read back from its file),
           WAL, synchronous = FULL, the writer's page cache, the same statements in the
           same commits: the floor SQLite and the kernel set for those writes.

Runs alternate; the table gives medians over --runs runs of each.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import common

STORE_BENCH = os.environ.get("BENCH_STORE", os.path.join(os.path.dirname(common.BATON), "store-bench"))

CONTROL = r"""
import json, resource, sqlite3, sys, time
path, schema_path, total, batch, sessions = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = FULL")
db.execute("PRAGMA cache_size = -32768")
db.execute("PRAGMA temp_store = MEMORY")
db.executescript(open(schema_path).read())
last, previous, next_sequence = {}, [], 1
# Events enter the session index 8,192 at a time, as SQLiteSessionIndex does.
waiting, threshold, watermark, next_event = 0, 8192, 0, 1
db.execute("INSERT INTO pending_floor (only, sequence) VALUES (1, 1)")
db.execute("INSERT INTO event_index_watermark (only, sequence) VALUES (1, 0)")
floor = stored_floor = 1
before = resource.getrusage(resource.RUSAGE_SELF)
while next_sequence <= total or previous:
    count = min(batch, total - next_sequence + 1)
    db.execute("BEGIN IMMEDIATE")
    if waiting >= threshold:
        db.execute("INSERT OR IGNORE INTO event_index (session, id, sequence) SELECT session, id, sequence FROM events"
                   " WHERE sequence > ? AND sequence <= ? ORDER BY session, id", (watermark, next_event - 1))
        watermark = next_event - 1
        db.execute("UPDATE event_index_watermark SET sequence = MAX(sequence, ?)", (watermark,))
        waiting = 0
    for message, session in previous:
        last[session] = last.get(session, 0) + 1
        data = '{"id":"%s.1","in_reply_to":"%s","text":"Demo agent heard bench: message"}' % (message, message)
        db.execute("INSERT INTO events (sequence, session, id, kind, data, created_at) VALUES (?, ?, ?, 'reply', ?, ?)",
                   (next_event, session, last[session], data, time.time()))
        next_event += 1
        waiting += 1
    current = []
    for sequence in range(next_sequence, next_sequence + count):
        message, session = "message-%d" % (1000000000 + sequence), "s%d" % (sequence % sessions)
        db.execute("INSERT INTO messages (id, sequence, session, user, text, state, ack_status, ack_position, accepted_at, replies)"
                   " VALUES (?, ?, ?, 'bench', ?, 'running', 'accepted', 0, ?, 0)",
                   (message, sequence, session, "message %d" % sequence, time.time()))
        current.append((message, session))
    for message, _ in previous:
        db.execute("UPDATE messages SET state = 'done', replies = MAX(replies, 1) WHERE id = ?", (message,))
    # The pending floor, moved as SQLitePendingFloor moves it (nothing here stays pending
    # long enough to be parked).
    db.execute("SELECT MAX(sequence) FROM messages").fetchone()  # the newest, which parking measures from
    for sequence, state in db.execute(
            "SELECT sequence, state FROM messages WHERE sequence >= ? ORDER BY sequence LIMIT 1024", (floor,)):
        if state in ("queued", "running", "interrupted"):
            break
        floor = sequence + 1
    if floor - stored_floor >= 512:
        db.execute("INSERT INTO pending_floor (only, sequence) VALUES (1, ?)"
                   " ON CONFLICT (only) DO UPDATE SET sequence = excluded.sequence", (floor,))
        db.execute("DELETE FROM parked_messages WHERE NOT EXISTS (SELECT 1 FROM messages WHERE messages.sequence"
                   " = parked_messages.sequence AND state IN ('queued', 'running', 'interrupted'))")
        stored_floor = floor
    db.execute("COMMIT")
    previous, next_sequence = current, next_sequence + count
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(json.dumps({"cpu_us_per_message": round(cpu * 1e6 / total, 1)}))
"""


def run_store_bench(args, folder):
    directory = os.path.join(folder, "baton")
    out = subprocess.run(
        [STORE_BENCH, "--messages", str(args.messages), "--sessions", str(args.sessions), "--batch", str(args.batch),
         "--directory", directory],
        env=common.with_unit_environment(), check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    schema = "\n".join(
        row[0] + ";" for row in sqlite3.connect(os.path.join(directory, "baton.sqlite")).execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"))
    shutil.rmtree(directory)
    return result, schema


def run_control(args, folder, schema):
    schema_path = os.path.join(folder, "schema.sql")
    with open(schema_path, "w") as f:
        f.write(schema)
    path = os.path.join(folder, "control.sqlite")
    out = subprocess.run(
        [sys.executable, "-c", CONTROL, path, schema_path, str(args.messages), str(args.batch), str(args.sessions)],
        check=True, capture_output=True, text=True).stdout
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json")
    args = parser.parse_args()
    folder = common.state_root()
    runs = []
    try:
        for _ in range(args.runs):
            baton, schema = run_store_bench(args, folder)
            control = run_control(args, folder, schema)
            runs.append({"baton": baton, "control": control})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    median = {
        "cpu_us_per_message": common.median(run["baton"]["cpu_us_per_message"] for run in runs),
        "messages_per_s": common.median(run["baton"]["messages_per_s"] for run in runs),
        "pages_per_commit": common.median(run["baton"]["pages_per_commit"] for run in runs),
        "control_cpu_us_per_message": common.median(run["control"]["cpu_us_per_message"] for run in runs),
        "all_answered": all(run["baton"]["all_answered"] for run in runs),
    }
    common.emit({"runs": args.runs, "messages": args.messages, "sessions": args.sessions, "batch": args.batch,
                 "median": median, "all": runs}, args.json)


if __name__ == "__main__":
    main()
