#!/usr/bin/env python3
"""Retention: the store's size under a long steady load with `store.retention` on.

`baton serve` (demo agent, delay 0) runs with `store.retention` set to --retention-seconds
(as a fraction of a day: the key takes fractions, so the same code path as a 30-day
retention runs, only with minutes in place of days; passes then come every tenth of the
retention). A client posts --rate messages a second over --sessions sessions for
--duration seconds; every --sample seconds the size of baton.sqlite (+ its -wal) and the
messages and events in it are read. Without retention the file grows with every message
for as long as the load lasts; with it, once the first retention period has passed, what
is kept is about rate × retention and the file stops growing (SQLite reuses the pages
freed by pruning).

Figures: the file size when the first retention period ended and at the end, the growth
between them, the size the file would have reached without retention (its growth per
message before the first pruning, times the messages sent), the messages kept at the end
against rate × retention, `baton_store_pruned_total`, and every stored message answered
(pending ones are never pruned: the check reads them).
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import time

import common


def store_size(state):
    return sum(os.path.getsize(os.path.join(state, n)) for n in os.listdir(state) if n.startswith("baton.sqlite")) / 2**20


def counts(state):
    db = sqlite3.connect(f"file:{os.path.join(state, 'baton.sqlite')}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM events),"
            " (SELECT COUNT(*) FROM messages WHERE state IN ('queued', 'running', 'interrupted'))"
        ).fetchone()
    finally:
        db.close()


def pruned(metrics_text):
    totals = {}
    for line in metrics_text.splitlines():
        if line.startswith("baton_store_pruned_total{"):
            kind = line.split('kind="')[1].split('"')[0]
            totals[kind] = int(float(line.rsplit(" ", 1)[1]))
    return totals


async def post_steadily(port, args, stop_at):
    """Posts at --rate per second, spread over --sessions sessions; returns how many got 202."""
    connection = common.HTTPConnection(port)
    await connection.connect()
    sent, refused, n = 0, 0, 0
    interval = 1 / args.rate
    next_at = time.monotonic()
    try:
        while time.monotonic() < stop_at:
            body = common.message_body(f"ret-{n % args.sessions}", f"steady {n}")
            status, _, _ = await connection.request("POST", "/v1/messages", body)
            if status == 202:
                sent += 1
            else:
                refused += 1
            n += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        connection.close()
    return sent, refused


async def main(args):
    folder = common.state_root()
    state = os.path.join(folder, "store")
    try:
        port = common.free_port()
        days = args.retention_seconds / 86400
        env = common.baton_env(port, state, store_retention=f"{days:.12f}", agent_delay=0, limits_max_queue_per_session=100000)
        notify = common.NotifySocket(folder)
        env["NOTIFY_SOCKET"] = notify.path
        loop = asyncio.get_running_loop()
        notify.attach(loop)
        process = common.Process([common.BATON, "serve"], env, os.path.join(folder, "baton.log"))
        exited = process.watch(loop)
        try:
            await notify.wait_async("READY", timeout=30)
            started = time.monotonic()
            stop_at = started + args.duration
            poster = asyncio.ensure_future(post_steadily(port, args, stop_at))
            samples = []
            while not poster.done():
                await asyncio.sleep(min(args.sample, max(0.1, stop_at - time.monotonic())))
                messages, events, pending = counts(state)
                samples.append({"t_s": round(time.monotonic() - started, 1), "mib": round(store_size(state), 2),
                                "messages": messages, "events": events, "pending": pending})
            sent, refused = await poster
            # Let the last turns finish before reading the store's verdict.
            deadline = time.monotonic() + 30
            while counts(state)[2] > 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            connection = common.HTTPConnection(port)
            await connection.connect()
            _, _, body = await connection.request("GET", "/metrics")
            connection.close()
            totals = pruned(body.decode())
            messages, events, pending = counts(state)
            db = sqlite3.connect(f"file:{os.path.join(state, 'baton.sqlite')}?mode=ro", uri=True)
            unanswered = db.execute("SELECT COUNT(*) FROM messages WHERE state <> 'done'").fetchone()[0]
            db.close()
            process.signal(signal.SIGTERM)
            await asyncio.wait_for(exited, 30)
        finally:
            loop.remove_reader(notify.sock.fileno())
            process.stop()
            notify.close()
        # The size once the first retention period (and a pass after it) is over: from
        # there on the file must stay flat.
        settle = args.retention_seconds * 1.2
        settled = next((s for s in samples if s["t_s"] >= settle), samples[-1])
        final = samples[-1]
        # Before the first pass could delete anything the file grew with every message:
        # that pace over the whole run is what it would have reached without retention.
        young = [s for s in samples if s["t_s"] <= args.retention_seconds and s["messages"]]
        projected = round(young[-1]["mib"] / young[-1]["messages"] * sent, 1) if young else None
        return {
            "benchmark": "retention",
            "retention_s": args.retention_seconds,
            "rate_per_s": args.rate,
            "sessions": args.sessions,
            "duration_s": args.duration,
            "sent": sent,
            "refused": refused,
            "settled_at_s": settled["t_s"],
            "settled_mib": settled["mib"],
            "final_mib": final["mib"],
            "projected_without_retention_mib": projected,
            "expected_kept": round(args.rate * args.retention_seconds),
            "growth_after_settling_pct": round(100 * (final["mib"] - settled["mib"]) / settled["mib"], 1) if settled["mib"] else None,
            "messages_kept": messages,
            "events_kept": events,
            "pending_at_end": pending,
            "unanswered_kept": unanswered,
            "pruned": totals,
            "exit_status": process.returncode,
            "samples": samples,
        }
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retention-seconds", type=float, default=90)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--duration", type=float, default=300)
    parser.add_argument("--sample", type=float, default=10)
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    common.emit(asyncio.run(main(args)), args.json)
