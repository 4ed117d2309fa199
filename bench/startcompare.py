#!/usr/bin/env python3
"""Two `baton` binaries started again and again, alternating, in one run: what a change
did to the start, measured side by side.

    bench/startcompare.py --before /tmp/baton-old --after .build/release/baton [--rounds 5] [--starts 10]

Each round starts each binary --starts times on a store it keeps between its starts (the
first start, which creates the store, is not counted), as a restart finds it. Per start:
fork/exec to READY=1 on a NOTIFY_SOCKET this script owns, and the CPU time every thread
of the process had used by then (/proc/PID/task/*/schedstat, in nanoseconds, so short
starts are not rounded to clock ticks). It prints each round's medians per binary, and
the medians over the rounds.
"""

import argparse
import json
import os
import signal
import statistics

import common


def thread_cpu_ms(pid):
    """CPU time of the process's live threads, in ms."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e6


def starts(binary, folder, count):
    """`count` starts after a first one: (ms to READY=1, CPU ms by then) each."""
    state = os.path.join(folder, "state")
    os.makedirs(state, exist_ok=True)
    port = common.free_port()
    measured = []
    for index in range(count + 1):
        notify = common.NotifySocket(folder)
        env = common.baton_env(port, state)
        env["NOTIFY_SOCKET"] = notify.path
        process = common.Process([binary, "serve"], env, os.path.join(folder, "baton.log"))
        try:
            ready = notify.wait_for("READY")
            cpu = thread_cpu_ms(process.pid)
            if index > 0:
                measured.append(((ready - process.start_ns) / 1e6, cpu))
            process.signal(signal.SIGTERM)
            process.popen.wait(30)
        finally:
            process.stop()
            notify.close()
    return {
        "ready_ms": round(statistics.median(m[0] for m in measured), 2),
        "cpu_ms": round(statistics.median(m[1] for m in measured), 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    root = common.state_root()
    rounds = []
    for index in range(args.rounds):
        run = {}
        for label in (["before", "after"] if index % 2 == 0 else ["after", "before"]):
            folder = os.path.join(root, f"{label}-{index}")
            os.makedirs(folder)
            run[label] = starts(getattr(args, label), folder, args.starts)
        print(f"round {index + 1}: before {run['before']}, after {run['after']}", flush=True)
        rounds.append(run)
    result = {
        "binaries": {"before": args.before, "after": args.after},
        "starts_per_round": args.starts,
        "rounds": rounds,
        "median": {
            label: {key: statistics.median(r[label][key] for r in rounds) for key in ("ready_ms", "cpu_ms")}
            for label in ("before", "after")
        },
    }
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
