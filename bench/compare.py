#!/usr/bin/env python3
"""Two `baton` binaries under the same wrk load, alternating, in one run: what a change
did to the single-process SQLite path, measured side by side.

    bench/compare.py --before /tmp/baton-old --after .build/release/baton [--runs 5] [--notify]

Each run starts each binary on a fresh SQLite store (demo agent, `agent.delay: 0`), posts
for --duration seconds with wrk (bench/post.lua, as bench/throughput.py does) and waits
until every message is answered; the order alternates between runs. It prints, per
binary, the median POSTs/s and p50/p99, and the median of the per-run ratios after/before.
With --notify each runs with NOTIFY_SOCKET set (a socket the script reads), as under
systemd, so the status it reports to systemd is part of the cost.
"""

import argparse
import asyncio
import os
import statistics

import common
import throughput


async def measure(binary, folder, label, args):
    port = common.free_port()
    env = common.baton_env(port, os.path.join(folder, label), agent_delay=0, limits_max_queue_per_session=1_000_000)
    notify = None
    if args.notify:
        # As under systemd: a notification socket, read as it fills.
        notify = common.NotifySocket(folder)
        notify.attach(asyncio.get_running_loop())
        env["NOTIFY_SOCKET"] = notify.path
    try:
        return await throughput.wrk_until_answered(binary, env, os.path.join(folder, f"{label}.log"), args, label)
    finally:
        if notify:
            asyncio.get_running_loop().remove_reader(notify.sock.fileno())
            notify.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-sessions", type=int, default=1000)
    parser.add_argument("--notify", action="store_true", help="run each with NOTIFY_SOCKET set, as under systemd")
    parser.add_argument("--json")
    args = parser.parse_args()
    folder = common.state_root()
    runs = []
    for n in range(args.runs):
        order = ["before", "after"] if n % 2 == 0 else ["after", "before"]
        run = {}
        for side in order:
            run[side] = await measure(getattr(args, side), folder, f"{side}-{n}", args)
        run["ratio"] = round(run["after"]["rps"] / run["before"]["rps"], 3)
        runs.append(run)
    summary = {
        side: {key: statistics.median(run[side][key] for run in runs) for key in ("rps", "cpu_us_per_message", "p50_ms", "p99_ms", "errors")}
        for side in ("before", "after")
    }
    summary["ratio_after_to_before"] = statistics.median(run["ratio"] for run in runs)
    summary["cpu_ratio_after_to_before"] = statistics.median(
        run["after"]["cpu_us_per_message"] / run["before"]["cpu_us_per_message"] for run in runs)
    common.emit({"binaries": {"before": args.before, "after": args.after}, "median": summary, "all": runs}, args.json)


if __name__ == "__main__":
    asyncio.run(main())
