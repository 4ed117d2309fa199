#!/usr/bin/env python3
"""Exactly once under SIGKILL: clients post continuously while systemd's `baton` is killed
at random moments and relaunched by `Restart=on-failure`.

Needs root: like restart.py (whose user manager and unit it uses, drop-in included), it
re-runs itself under `unshare --mount` and starts `/lib/systemd/systemd --user` in that
private mount namespace. The unit runs the demo agent with `agent.delay` = --delay.

--clients clients post continuously, each over one keep-alive connection, round-robin over
its --sessions-per-client sessions, at most --rate messages/s each; every message carries
an idempotency `id`, and a request whose connection closes before the answer is sent again
with the same `id` (as a client must). Meanwhile, at --kills seeded random moments within
--duration seconds (--seed; printed), `systemctl --user kill --kill-whom=main -s KILL
baton` kills the service; a kill falling while no process is up waits for the next one.

Afterwards it waits for every acknowledged message to have a reply and reads every
session's events from event 0 (what the store holds) and reports:

  acknowledged   messages answered 202
  lost           acknowledged, with no reply (goal 0)
  answered twice a reply id (`<message id>.<n>`) seen twice, or two replies to one
                 message: the demo agent answers each message once (goal 0)
  out of order   sessions whose replies are not in the order their messages were
                 acknowledged (goal 0)
  restarts       NRestarts went up by one per kill (information: systemd relaunched each)
"""

import argparse
import asyncio
import os
import random
import shutil
import sys
import time

import common
import restart


class Load:
    def __init__(self, port, args):
        self.port, self.args = port, args
        self.sessions = [[f"k-{c}-{s}" for s in range(args.sessions_per_client)] for c in range(args.clients)]
        self.posting = True
        self.acked = {}  # id -> session
        self.order = {}  # session -> ids in acknowledgement order
        self.counts = {"posts": 0, "refused": 0, "dropped": 0, "non_202": 0, "timeouts": 0, "statuses": {}}

    async def client(self, sessions):
        conn = common.HTTPConnection(self.port)
        interval = 1.0 / self.args.rate
        next_at = time.monotonic()
        k = 0
        try:
            while self.posting:
                session = sessions[k % len(sessions)]
                k += 1
                message_id = common.new_id()
                body = common.message_body(session, f"message {k}", message_id=message_id)
                self.counts["posts"] += 1
                while True:
                    try:
                        status, _, _ = await asyncio.wait_for(conn.request("POST", "/v1/messages", body), 30)
                    except ConnectionRefusedError:
                        self.counts["refused"] += 1
                        conn.close()
                        await asyncio.sleep(0.01)
                        continue
                    except asyncio.TimeoutError:
                        self.counts["timeouts"] += 1
                        conn.close()
                        continue
                    except (common.ConnectionClosed, ConnectionError, asyncio.IncompleteReadError):
                        self.counts["dropped"] += 1  # sent again with the same id
                        conn.close()
                        continue
                    if status == 202:
                        self.acked[message_id] = session
                        self.order.setdefault(session, []).append(message_id)
                        break
                    self.counts["non_202"] += 1
                    self.counts["statuses"][str(status)] = self.counts["statuses"].get(str(status), 0) + 1
                    await asyncio.sleep(0.05)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    next_at = time.monotonic()
        finally:
            conn.close()


async def replay(port, session, idle=0.5):
    """Every reply event in the session's stream from event 0: (reply id, in_reply_to)."""
    found = []
    stream = common.sse_events(port, session).__aiter__()
    try:
        while True:
            try:
                _, name, data, _ = await asyncio.wait_for(stream.__anext__(), idle)
            except (asyncio.TimeoutError, StopAsyncIteration):
                return found
            if name == "reply":
                found.append((data.get("id"), data.get("in_reply_to")))
    finally:
        await stream.aclose()


async def read_all(port, sessions):
    stored = {}
    for start in range(0, len(sessions), 32):
        chunk = sessions[start:start + 32]
        for session, replies in zip(chunk, await asyncio.gather(*(replay(port, s) for s in chunk))):
            stored[session] = replies
    return stored


async def active_pid(manager, timeout=60):
    """The MainPID once the unit is active with a live main process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await asyncio.to_thread(manager.show)
        if state["ActiveState"] == "active" and state["MainPID"] > 0:
            return state["MainPID"]
        await asyncio.sleep(0.02)
    raise RuntimeError(f"baton.service did not come back: {manager.show()}")


async def inside(args):
    folder = common.state_root()
    manager = restart.Manager(folder)
    rng = random.Random(args.seed)
    moments = sorted(rng.uniform(0.5, max(1.0, args.duration - 0.5)) for _ in range(args.kills))
    print(
        f"killloop: seed {args.seed}, {args.kills} SIGKILLs over {args.duration} s, "
        f"{args.clients} clients x {args.sessions_per_client} sessions",
        file=sys.stderr, flush=True,
    )
    kills = []
    crashes = 0
    try:
        manager.start()
        port = common.free_port()
        restart.install_unit(manager, port, args.delay, args.clients * args.sessions_per_client)
        manager.systemctl("start", "baton.service")
        await common.wait_http_ready(port)
        before = manager.show()
        load = Load(port, args)
        clients = [asyncio.create_task(load.client(group)) for group in load.sessions]
        start = time.monotonic()
        try:
            for moment in moments:
                await asyncio.sleep(max(0, start + moment - time.monotonic()))
                pid = await active_pid(manager)
                fired = time.monotonic() - start
                result = await asyncio.to_thread(
                    manager.systemctl, "kill", "--kill-whom=main", "--signal=KILL", "baton.service", check=False
                )
                kills.append({"at_s": round(fired, 3), "pid": pid, "status": result.returncode, "error": result.stderr.strip()})
                # The next kill is for the next process: wait until this one is gone.
                while (await asyncio.to_thread(manager.show))["MainPID"] == pid:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(max(0, start + args.duration - time.monotonic()))
        finally:
            load.posting = False
            await asyncio.gather(*clients, return_exceptions=True)
        posting_s = time.monotonic() - start

        await common.wait_http_ready(port, 60)
        sessions = [s for group in load.sessions for s in group]
        deadline = time.monotonic() + args.answer_timeout
        while True:
            stored = await read_all(port, sessions)
            answered = {message for replies in stored.values() for _, message in replies}
            if all(m in answered for m in load.acked) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.settle)
        stored = await read_all(port, sessions)
        after = manager.show()
    finally:
        manager.stop()
        log = os.path.join(folder, "baton.log")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                crashes = sum(1 for line in f if any(mark in line for mark in ("Program crashed", "Fatal error")))
        common.keep_log(log, "killloop-baton.log")
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    per_message, reply_ids = {}, {}
    for replies in stored.values():
        for reply_id, message in replies:
            per_message[message] = per_message.get(message, 0) + 1
            reply_ids[reply_id] = reply_ids.get(reply_id, 0) + 1
    lost = [m for m in load.acked if m not in per_message]
    twice = {m for m in load.acked if per_message.get(m, 0) > 1}
    twice |= {reply_id.rsplit(".", 1)[0] for reply_id, n in reply_ids.items() if n > 1 and reply_id}
    out_of_order = [
        session for session, ids in load.order.items()
        if [m for _, m in stored.get(session, []) if m in load.acked] != ids
    ]
    result = {
        "benchmark": "killloop",
        "seed": args.seed,
        "kills": len(kills),
        "kill_failures": sum(1 for k in kills if k["status"] != 0),
        "duration_s": round(posting_s, 1),
        "clients": args.clients,
        "sessions": len(sessions),
        "rate_per_client": args.rate,
        "delay_s": args.delay,
        "posts": load.counts["posts"],
        "acknowledged": len(load.acked),
        "lost": len(lost),
        "answered_twice": len(twice),
        "out_of_order_sessions": len(out_of_order),
        "refused": load.counts["refused"],
        "non_202": load.counts["non_202"],
        "statuses": load.counts["statuses"],
        "dropped": load.counts["dropped"],
        "timeouts": load.counts["timeouts"],
        "restarts": after["NRestarts"] - before["NRestarts"],
        "final_state": f'{after["ActiveState"]}/{after["SubState"]}',
        "crash_lines_in_log": crashes,
        "kill_moments": kills,
        "lost_ids": lost[:20],
        "answered_twice_ids": sorted(twice)[:20],
    }
    print(
        f"killloop: seed {args.seed}: {len(kills)} SIGKILLs, {result['acknowledged']} acknowledged, "
        f"{result['lost']} lost, {result['answered_twice']} answered twice, "
        f"{result['out_of_order_sessions']} sessions out of order",
        file=sys.stderr, flush=True,
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--duration", type=float, default=30, help="seconds of load; the kills fall inside")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sessions-per-client", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50, help="messages/s per client at most")
    parser.add_argument("--delay", type=float, default=0.01, help="demo agent turn time (s)")
    parser.add_argument("--seed", type=int, default=None, help="the kill moments (default: random, printed)")
    parser.add_argument("--answer-timeout", type=float, default=120, help="seconds to wait for every reply")
    parser.add_argument("--settle", type=float, default=1, help="seconds to wait after that before the last read")
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inside:
        if os.geteuid() != 0:
            sys.exit("killloop.py needs root (a private mount namespace for the user manager)")
        if args.seed is None:
            args.seed = random.SystemRandom().randrange(1, 2**31)
        argv = ["unshare", "--mount", "--propagation", "private", sys.executable, os.path.abspath(__file__), "--inside"]
        given = any(a == "--seed" or a.startswith("--seed=") for a in sys.argv[1:])
        os.execvp("unshare", argv + sys.argv[1:] + ([] if given else ["--seed", str(args.seed)]))
    common.emit(asyncio.run(inside(args)), args.json)
