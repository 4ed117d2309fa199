#!/usr/bin/env python3
"""Scale: --sessions sessions, each with a turn in flight, in one process.

Each run starts `baton serve` (demo agent, `agent.delay` = --delay, long enough for every
message to be posted while the first turns still run; `agent.max_concurrent_turns` =
--sessions), posts one message to each of --sessions sessions over --connections
keep-alive connections, checks /v1/status says all of them are in flight, and reads
VmRSS (and VmHWM, Threads) from /proc/PID/status, idle before the load and with every
turn in flight. Then SIGUSR1 starts a drain; the turns end on their own (each `delay`
after it started) and the process exits 75. Times:

  last turn end  the `goodbye` event's arrival on an open stream: sent when the gateway
                 sees its last turn end (cross-check: the last 202 + delay)
  exit           the pidfd becoming readable

After exit, the store is read to check every message is `done` with a reply.
"""

import argparse
import asyncio
import os
import shutil
import signal
import sqlite3

import common


async def one_run(args, index):
    folder = common.state_root()
    port = common.free_port()
    state = os.path.join(folder, "state")
    notify = common.NotifySocket(folder)
    env = common.baton_env(
        port,
        state,
        agent_delay=args.delay,
        agent_max_concurrent_turns=args.sessions,
        drain_timeout=args.delay * 4,
        # The connections it holds (and a few for the stream and status reads), set
        # explicitly: the default derived from the descriptor limit keeps descriptors for
        # every possible turn's agent pipes, which leaves 16 connections under 10,000 turns.
        limits_max_connections=args.connections + 16,
    )
    env["NOTIFY_SOCKET"] = notify.path
    env.update(dict(item.split("=", 1) for item in args.env))
    loop = asyncio.get_running_loop()
    notify.attach(loop)
    process = common.Process([common.BATON, "serve"], env, os.path.join(folder, "baton.log"))
    exited = process.watch(loop)
    try:
        await notify.wait_async("READY", timeout=30)
        await asyncio.sleep(0.5)
        idle = common.status_of(process.pid)
        goodbye = loop.create_future()

        async def follow():
            async for _, name, _, arrival in common.sse_events(port, f"scale{index}-watch"):
                if name == "goodbye" and not goodbye.done():
                    goodbye.set_result(arrival)

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.05)

        queue = list(range(args.sessions))
        acked, failed = [], []
        steps = {}  # messages acknowledged -> VmRSS MiB
        posting_started = common.now_ns()

        async def worker():
            conn = common.HTTPConnection(port)
            try:
                while queue:
                    n = queue.pop()
                    status, _, _ = await conn.request(
                        "POST", "/v1/messages", common.message_body(f"scale{index}-{n}", f"message {n}")
                    )
                    (acked if status == 202 else failed).append(common.now_ns() if status == 202 else status)
                    if len(acked) % (args.sessions // 4) == 0 and len(acked) not in steps:
                        steps[len(acked)] = common.status_of(process.pid)["VmRSS"]
            finally:
                conn.close()

        await asyncio.gather(*(worker() for _ in range(args.connections)))
        posting_ended = common.now_ns()
        _, _, status = await common.get_json(port, "/v1/status")
        in_flight = status["in_flight"]
        loaded = common.status_of(process.pid)
        await asyncio.sleep(0.2)
        loaded_later = common.status_of(process.pid)
        signalled = common.now_ns()
        process.signal(signal.SIGUSR1)
        exit_ns = await asyncio.wait_for(exited, args.delay * 5 + 30)
        goodbye_ns = await asyncio.wait_for(goodbye, 1) if not goodbye.done() else goodbye.result()
        await asyncio.wait_for(follower, 5)
        db = sqlite3.connect(os.path.join(state, "baton.sqlite"))
        done, replies = db.execute(
            "SELECT (SELECT COUNT(*) FROM messages WHERE state = 'done'),"
            " (SELECT COUNT(*) FROM events WHERE kind = 'reply')"
        ).fetchone()
        db.close()
        last_end = max(acked) + int(args.delay * 1e9) if acked else None
        return {
            "posted": len(acked),
            "failed": len(failed),
            "in_flight_seen": in_flight,
            "post_rate_per_s": round(len(acked) / ((posting_ended - posting_started) / 1e9), 1),
            "rss_idle_mib": idle["VmRSS"],
            "rss_loaded_mib": max(loaded["VmRSS"], loaded_later["VmRSS"]),
            "kib_per_turn": round((max(loaded["VmRSS"], loaded_later["VmRSS"]) - idle["VmRSS"]) * 1024 / args.sessions, 1),
            "rss_steps_mib": {str(k): v for k, v in sorted(steps.items())},
            "hwm_loaded_mib": loaded_later["VmHWM"],
            "threads_loaded": loaded_later["Threads"],
            "exit_after_goodbye_ms": common.ms(exit_ns - goodbye_ns),
            "exit_after_estimated_last_turn_end_ms": common.ms(exit_ns - last_end) if last_end else None,
            "exit_status": process.returncode,
            "done_in_store": done,
            "replies_in_store": replies,
        }
    finally:
        loop.remove_reader(notify.sock.fileno())
        process.stop()
        notify.close()
        if process.returncode != 75:
            common.keep_log(os.path.join(folder, "baton.log"), f"scale-{index}.log")
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


async def main(args):
    runs = [await one_run(args, index) for index in range(args.runs)]
    keys = [key for key in runs[0] if key not in ("exit_status", "rss_steps_mib")]
    summary = {key: common.median([run[key] for run in runs]) for key in keys}
    summary["exit_statuses"] = sorted({run["exit_status"] for run in runs})
    summary["all_in_flight"] = all(run["in_flight_seen"] == args.sessions for run in runs)
    summary["all_answered"] = all(run["done_in_store"] == args.sessions == run["replies_in_store"] for run in runs)
    return {
        "benchmark": "scale",
        "runs": len(runs),
        "sessions": args.sessions,
        "delay_s": args.delay,
        "median": summary,
        "all": runs,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--delay", type=float, default=20.0, help="demo agent turn time (s); must exceed the posting time")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for baton (e.g. GLIBC_TUNABLES=...), to try a change")
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    common.emit(asyncio.run(main(args)), args.json)
