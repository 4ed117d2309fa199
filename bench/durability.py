#!/usr/bin/env python3
"""Durability probe: does every acknowledged POST cost a sync to disk?

The contract says a 202 means the message is fsync'd. Group commit may share one sync
among concurrent requests, but requests sent one at a time cannot share: each must be
followed by at least one fsync/fdatasync before its 202. This benchmark starts
`baton serve` (demo agent with a long delay, so no turn ends and writes meanwhile),
attaches `strace -c -f` for the sync system calls only, posts --posts messages one after
the other (each to its own session), and reports syncs per acknowledged POST
(goal: at least 1) with the sequential POST latency, median of --runs runs. A control
(python's sqlite3, WAL, synchronous = FULL, one commit per insert, traced the same way)
shows the probe does see the syncs SQLite makes when it is asked to.
"""

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess

import common

SYNCS = "fsync,fdatasync,sync_file_range,syncfs,msync"


def count_syncs(path):
    """Sync calls in a `strace -c` summary."""
    syncs = 0
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and fields[-1] in SYNCS.split(","):
                syncs += int(fields[3])
    return syncs


CONTROL = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = FULL")
db.execute("CREATE TABLE t (x)")
for i in range(int(sys.argv[2])):
    db.execute("INSERT INTO t VALUES (?)", (i,))
"""


def control(posts):
    """The probe itself: SQLite in WAL mode with synchronous = FULL, one commit per insert,
    traced the same way, must show at least one sync per commit."""
    folder = common.state_root()
    try:
        out = os.path.join(folder, "strace.txt")
        subprocess.run(
            ["strace", "-c", "-f", "-e", f"trace={SYNCS}", "-o", out,
             "/usr/bin/python3", "-c", CONTROL, os.path.join(folder, "control.sqlite"), str(posts)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return round(count_syncs(out) / posts, 3)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def one_run(args, index):
    folder = common.state_root()
    port = common.free_port()
    # drain.timeout 1: the stop afterwards interrupts the long turns instead of waiting them out.
    env = common.baton_env(
        port, os.path.join(folder, "state"), agent_delay=600, agent_max_concurrent_turns=10_000, drain_timeout=1
    )
    process = common.Process([common.BATON, "serve"], env, os.path.join(folder, "baton.log"))
    tracer = None
    try:
        await common.wait_http_ready(port)
        out = os.path.join(folder, "strace.txt")
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-e", f"trace={SYNCS}", "-o", out, "-p", str(process.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(1.0)  # attached to every thread
        conn = common.HTTPConnection(port)
        latencies = []
        try:
            for n in range(args.posts):
                started = common.now_ns()
                status, _, _ = await conn.request("POST", "/v1/messages", common.message_body(f"sync{index}-{n}", "x"))
                assert status == 202, status
                latencies.append((common.now_ns() - started) / 1e6)
        finally:
            conn.close()
        await asyncio.sleep(0.3)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
        syncs = count_syncs(out)
        return {
            "posts": args.posts,
            "syncs": syncs,
            "syncs_per_post": round(syncs / args.posts, 3),
            "post_p50_ms": round(common.percentile(latencies, 50), 3),
        }
    finally:
        if tracer and tracer.poll() is None:
            tracer.kill()
            tracer.wait()
        process.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def main(args):
    runs = [await one_run(args, index) for index in range(args.runs)]
    summary = {key: common.median([run[key] for run in runs]) for key in runs[0]}
    summary["control_syncs_per_commit"] = control(args.posts)
    return {"benchmark": "durability", "runs": len(runs), "median": summary, "all": runs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--json", help="write the result here instead of stdout")
    args = parser.parse_args()
    common.emit(asyncio.run(main(args)), args.json)
