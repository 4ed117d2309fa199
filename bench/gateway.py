#!/usr/bin/env python3
"""The gateway alone: what accepting a message, scheduling and running its turn, storing
its reply and ending the turn cost Baton's gateway, without HTTP or SQLite.

  `gateway-bench` (bench/GatewayBench): --clients concurrent callers of
  `Gateway.accept`, as HTTP handlers call it, for --messages new messages, each in a
  session of its own and answered by the demo agent (delay 0), over a store that keeps
  nothing and whose commits take --commit-us microseconds, as a synced commit does (so
  writes gather into commits as over SQLite). CPU time (getrusage) per message. The store
  counts what the turns wrote: every message inserted, replied to and done.

With the throughput benchmark's refused POSTs (Baton's HTTP layer alone) and the store
alone, this splits Baton's CPU per message in three. The table gives medians over --runs.
"""

import argparse
import json
import os
import subprocess

import common

GATEWAY_BENCH = os.environ.get("BENCH_GATEWAY", os.path.join(os.path.dirname(common.BATON), "gateway-bench"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--commit-us", type=int, default=500)
    parser.add_argument("--json")
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        out = subprocess.run(
            [GATEWAY_BENCH, "--messages", str(args.messages), "--clients", str(args.clients),
             "--commit-us", str(args.commit_us)],
            env=common.with_unit_environment(), check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    median = {
        "cpu_us_per_message": common.median(run["cpu_us_per_message"] for run in runs),
        "messages_per_s": common.median(run["messages_per_s"] for run in runs),
        "messages_per_commit": common.median(run["messages"] / run["commits"] for run in runs),
        "all_answered": all(run["all_answered"] for run in runs),
    }
    common.emit({"runs": args.runs, "messages": args.messages, "clients": args.clients, "commit_us": args.commit_us,
                 "median": median, "all": runs}, args.json)


if __name__ == "__main__":
    main()
