#!/usr/bin/env python3
"""Drain exit latency: from the last in-flight turn ending to the process exiting.

Outside systemd: this script owns the NOTIFY_SOCKET. Each run starts `baton serve` with
the demo agent (`agent.delay` = --delay), waits for READY=1, opens an event stream and
keeps the posting connections open (idle keep-alive, as real clients do), starts
--turns turns in different sessions, sends SIGUSR1 while they run, and times:

  turn end   the `goodbye` event's arrival: the gateway sends it in the same actor call
             that sees the last turn end (cross-check: last 202 + delay)
  exit       the pidfd of the process becoming readable (in the same event loop)

and reports exit - turn end (goal < 10 ms), SIGUSR1 - the first notification telling
systemd of the drain (STATUS=Draining…, or STOPPING=1), and the exit status.

Run k waits k/runs of a second after READY=1 before it starts the turns, so the turns end
at evenly spread points of any once-a-second timer in the process; a periodic task that
holds up the exit then shows as a spread of latencies, not as one lucky or unlucky value.

The same runs are repeated without NOTIFY_SOCKET ("unsupervised": baton sends nothing to
systemd, readiness from /readyz): the difference between the two is what the systemd
notification side costs the exit.
"""

import argparse
import asyncio
import os
import shutil
import signal

import common


async def one_run(args, index, supervised):
    folder = common.state_root()
    port = common.free_port()
    notify = common.NotifySocket(folder)
    env = common.baton_env(port, os.path.join(folder, "state"), agent_delay=args.delay, drain_timeout=60)
    if supervised:
        env["NOTIFY_SOCKET"] = notify.path
    loop = asyncio.get_running_loop()
    notify.attach(loop)
    process = common.Process([common.BATON, "serve"], env, os.path.join(folder, "baton.log"))
    exited = process.watch(loop)
    connections = []
    try:
        if supervised:
            ready = await notify.wait_async("READY", timeout=30)
        else:
            ready = await common.wait_http_ready(port)
        await asyncio.sleep((index % args.runs) / args.runs)
        sessions = [f"drain{index}-{n}" for n in range(args.turns)]
        goodbye = loop.create_future()
        replies = []

        async def follow():
            async for event_id, name, data, arrival in common.sse_events(port, sessions[0]):
                if name == "goodbye" and not goodbye.done():
                    goodbye.set_result(arrival)
                elif name == "reply":
                    replies.append(arrival)

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.05)  # the stream is subscribed

        async def post(session):
            conn = common.HTTPConnection(port)
            connections.append(conn)
            status, _, _ = await conn.request("POST", "/v1/messages", common.message_body(session, "hold on"))
            assert status == 202, status
            return common.now_ns()

        acked = await asyncio.gather(*(post(s) for s in sessions))
        await asyncio.sleep(args.signal_after)
        signalled = common.now_ns()
        process.signal(signal.SIGUSR1)
        exit_ns = await asyncio.wait_for(exited, args.delay + 30)
        goodbye_ns = await asyncio.wait_for(goodbye, 1) if not goodbye.done() else goodbye.result()
        await asyncio.wait_for(follower, 5)
        # systemd hears of the drain: a restart drain says so in STATUS= and keeps the unit
        # active (no STOPPING=1, so that `systemctl reload` returns at once); a stop drain
        # sends STOPPING=1. Whichever comes first.
        told = next(
            (
                arrival for arrival, fields in notify.messages
                if arrival >= signalled
                and (fields.get("STOPPING") == "1" or fields.get("STATUS", "").startswith("Draining"))
            ),
            None,
        )
        estimated_end = max(acked) + int(args.delay * 1e9)
        return {
            "exit_status": process.returncode,
            "ready_after_start_ms": common.ms(ready - process.start_ns),
            "drain_told_after_signal_ms": common.ms(told - signalled) if told else None,
            "turns_end_after_ready_ms": common.ms(estimated_end - ready),
            "exit_after_goodbye_ms": common.ms(exit_ns - goodbye_ns),
            "exit_after_estimated_turn_end_ms": common.ms(exit_ns - estimated_end),
            "goodbye_after_estimated_turn_end_ms": common.ms(goodbye_ns - estimated_end),
            "drain_ms": common.ms(exit_ns - signalled),
        }
    finally:
        for conn in connections:
            conn.close()
        loop.remove_reader(notify.sock.fileno())
        process.stop()
        notify.close()
        if process.returncode != 75:
            common.keep_log(os.path.join(folder, "baton.log"), f"drain-{'supervised' if supervised else 'unsupervised'}-{index}.log")
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def summarize(runs):
    keys = [key for key in runs[0] if key != "exit_status"]
    summary = {key: common.median([run[key] for run in runs]) for key in keys}
    summary["exit_statuses"] = sorted({run["exit_status"] for run in runs})
    summary["exit_after_goodbye_max_ms"] = max(run["exit_after_goodbye_ms"] for run in runs)
    summary["exit_after_goodbye_min_ms"] = min(run["exit_after_goodbye_ms"] for run in runs)
    return summary


async def main(args):
    supervised, unsupervised = [], []
    for index in range(args.runs):
        supervised.append(await one_run(args, index, True))
        unsupervised.append(await one_run(args, index, False))
    return {
        "benchmark": "drain",
        "runs": args.runs,
        "turns": args.turns,
        "delay_s": args.delay,
        "median": summarize(supervised),
        "unsupervised": summarize(unsupervised),
        "all": supervised,
        "all_unsupervised": unsupervised,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--turns", type=int, default=8, help="turns in flight when the drain starts")
    parser.add_argument("--delay", type=float, default=0.5, help="demo agent turn time (s)")
    parser.add_argument("--signal-after", type=float, default=0.1, help="SIGUSR1 this long after the turns start (s)")
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--keep", action="store_true", help="keep the state folders")
    args = parser.parse_args()
    common.emit(asyncio.run(main(args)), args.json)
