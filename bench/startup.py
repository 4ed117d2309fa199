#!/usr/bin/env python3
"""Startup: process start to READY=1 with a store of --messages past messages, and the
resident memory (VmRSS) once ready.

The store is seeded by letting `baton serve` create its schema once (so it is exactly
Store.swift's, migrations table included), then writing the rows straight into the
SQLite file with python's sqlite3: --messages messages over --sessions sessions, each
`done` with one `reply` event, as a long-lived gateway would have. A second, empty store
is timed in the same run, alternating with the seeded one, so the figure that matters
is the difference. `baton check-config` (exec, Swift runtime, argument parsing and
configuration, no store and no sockets) is timed too, as the floor of any command.

Start is taken just before fork/exec; READY=1 is the datagram's arrival on the
NOTIFY_SOCKET this script owns. Each start is then stopped with SIGTERM.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import common


async def start_once(folder, state, label):
    """Start to READY=1 (ms), what /v1/status said and VmRSS (MiB) once it answered."""
    port = common.free_port()
    notify = common.NotifySocket(folder)
    env = common.baton_env(port, state)
    env["NOTIFY_SOCKET"] = notify.path
    loop = asyncio.get_running_loop()
    notify.attach(loop)
    process = common.Process([common.BATON, "serve"], env, os.path.join(folder, f"{label}.log"))
    exited = process.watch(loop)
    try:
        ready = await notify.wait_async("READY", timeout=30)
        _, _, status = await common.get_json(port, "/v1/status")
        rss = common.status_of(process.pid)["VmRSS"]
        process.signal(signal.SIGTERM)
        await asyncio.wait_for(exited, 30)
        return (ready - process.start_ns) / 1e6, status, process.returncode, rss
    finally:
        loop.remove_reader(notify.sock.fileno())
        process.stop()
        notify.close()


def seed(path, messages, sessions):
    """Writes `messages` done messages and their replies into the store at `path`."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous = OFF")
    now = time.time() - 86400
    per_session = {}
    message_rows, event_rows = [], []
    for n in range(1, messages + 1):
        session = f"past-{n % sessions}"
        event_id = per_session.get(session, 0) + 1
        per_session[session] = event_id
        message_id = f"seed-{n:08d}"
        accepted = now + n * 0.01
        message_rows.append((message_id, n, session, "seed", f"past message {n}", "done", "accepted", 0, accepted))
        data = json.dumps({"id": f"{message_id}.1", "in_reply_to": message_id, "text": f"Demo agent heard seed: past message {n}"})
        event_rows.append((session, event_id, "reply", data, accepted + 0.005))
    with db:
        db.executemany(
            "INSERT INTO messages (id, sequence, session, user, text, state, ack_status, ack_position, accepted_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            message_rows,
        )
        db.executemany("INSERT INTO events (session, id, kind, data, created_at) VALUES (?, ?, ?, ?, ?)", event_rows)
        # Indexed by session, as Baton's commits would have left them (SQLiteSessionIndex).
        db.execute("INSERT INTO event_index (session, id, sequence) SELECT session, id, sequence FROM events ORDER BY session, id")
        db.execute("UPDATE event_index_watermark SET sequence = (SELECT COALESCE(MAX(sequence), 0) FROM events)")
        # Where Baton's commits would have left the pending floor: past the ended messages.
        db.execute("UPDATE pending_floor SET sequence = ?", (messages + 1,))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = db.execute("SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM events)").fetchone()
    db.close()
    return counts


def check_config_ms(folder):
    env = common.baton_env(common.free_port(), os.path.join(folder, "empty"))
    start = time.monotonic_ns()
    subprocess.run([common.BATON, "check-config"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.monotonic_ns() - start) / 1e6


async def main(args):
    folder = common.state_root()
    try:
        seeded, empty = os.path.join(folder, "seeded"), os.path.join(folder, "empty")
        # Let baton create both stores (and warm the page cache for the binary).
        await start_once(folder, seeded, "create-seeded")
        await start_once(folder, empty, "create-empty")
        seed_start = time.monotonic()
        counts = seed(os.path.join(seeded, "baton.sqlite"), args.messages, args.sessions)
        seed_seconds = time.monotonic() - seed_start
        store_mib = sum(
            os.path.getsize(os.path.join(seeded, name)) for name in os.listdir(seeded) if name.startswith("baton.sqlite")
        ) / 2**20
        runs = []
        for index in range(args.runs):
            # Alternate which goes first, so drift in the machine's load hits both alike.
            order = [("seeded", seeded), ("empty", empty)] if index % 2 == 0 else [("empty", empty), ("seeded", seeded)]
            run = {"check_config_ms": round(check_config_ms(folder), 3)}
            for label, state in order:
                took, status, code, rss = await start_once(folder, state, label)
                run[f"{label}_ready_ms"] = round(took, 3)
                run[f"{label}_rss_mib"] = rss
                run[f"{label}_sessions"] = status["sessions"]
                run[f"{label}_exit_status"] = code
            run["difference_ms"] = round(run["seeded_ready_ms"] - run["empty_ready_ms"], 3)
            run["rss_difference_mib"] = round(run["seeded_rss_mib"] - run["empty_rss_mib"], 1)
            runs.append(run)
        summary = {
            key: common.median([run[key] for run in runs])
            for key in ("seeded_ready_ms", "empty_ready_ms", "difference_ms", "check_config_ms",
                        "seeded_rss_mib", "empty_rss_mib", "rss_difference_mib")
        }
        return {
            "benchmark": "startup",
            "runs": len(runs),
            "messages": counts[0],
            "events": counts[1],
            "sessions": args.sessions,
            "sessions_held_at_ready": runs[0]["seeded_sessions"],
            "store_mib": round(store_mib, 1),
            "seed_seconds": round(seed_seconds, 2),
            "median": summary,
            "all": runs,
        }
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    common.emit(asyncio.run(main(args)), args.json)
