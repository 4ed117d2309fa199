#!/usr/bin/env python3
"""Throughput and latency: Baton against the bare Hummingbird endpoint, in the same run.

Each run measures the three back to back (Baton, its HTTP layer alone, the bare endpoint),
alternating which comes first:

  baton  `baton serve`, demo agent with `agent.delay: 0`, `limits.max_queue_per_session`
         high, a fresh store. wrk (bench/post.lua: each request a new message, spread
         over --wrk-sessions sessions per wrk thread) posts for --duration seconds:
         POSTs/s, p50, p99. Then the store says how many of those messages were answered
         and how fast: answered/s = replies / (last reply's commit - first acceptance),
         which includes answering any backlog left when wrk stopped. CPU per message:
         the process's user + system CPU time (/proc/PID/stat) from wrk's start until
         every message is answered, divided by the messages answered: what accepting,
         storing and answering one message costs, whatever the machine's load does
         to the rate. The same time split by thread (/proc/PID/task: SwiftNIO's event
         loops, Swift's cooperative pool, the store's commit thread, the rest) says
         which part of Baton it went to, without a profiler.
         Then a Python client (bench/common.py, raw sockets) runs --latency-sessions
         sessions in a closed loop for --latency-duration seconds: POST, wait for the
         reply on the session's event stream, POST again: POST-to-202 and POST-to-reply
         p50/p99 and replies/s.
  refused  `baton serve` again, the same wrk load, but every body has an empty session:
         Baton answers 400 before its gateway sees the message. CPU per POST: what
         Baton's HTTP layer (connection guard, middleware, body parsing, the answer)
         costs alone, without storing or answering anything.
  bare   `bare-server` (bench/BareServer): the same wrk load, and the same Python client
         posting without waiting for a reply (its POST-to-202 is the client's floor).
         CPU per POST: its CPU time over the wrk run divided by the requests, split by
         thread as Baton's is.

The figure is the ratio baton/bare of POSTs/s, per run; the table reports its median.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time

import common

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "post.lua")


def wrk(port, args, prefix, refused=False):
    env = dict(os.environ, BENCH_SESSIONS=str(args.wrk_sessions), BENCH_PREFIX=prefix, BENCH_REFUSED="1" if refused else "0")
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "10s",
         "-s", LUA, f"http://{common.HOST}:{port}"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    match = re.search(r"^WRK_JSON (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return {
        "requests": data["requests"],
        "rps": round(data["requests"] / seconds, 1),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "errors": errors,
    }


async def wrk_until_answered(binary, env, log_path, args, prefix):
    """`binary serve` with `env` under wrk (``wrk``) for --duration seconds, then kept up
    until every message it took is answered, so whatever is read afterwards (a store's
    counters) covers whole messages. Returns wrk's figures, and the process's CPU time per
    POST wrk saw answered (from wrk's start until every message is answered)."""
    process = common.Process([binary, "serve"], env, log_path)
    try:
        port = int(env["BATON_LISTEN"].rsplit(":", 1)[1])
        await common.wait_http_ready(port)
        cpu_before = common.cpu_seconds(process.pid)
        result = await asyncio.to_thread(wrk, port, args, prefix)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            _, _, status = await common.get_json(port, "/v1/status")
            if status["in_flight"] == 0 and status["queued"] == 0:
                break
            await asyncio.sleep(0.2)
        cpu = common.cpu_seconds(process.pid) - cpu_before
        result["cpu_us_per_message"] = round(cpu * 1e6 / result["requests"], 1) if result["requests"] else None
        return result
    finally:
        process.signal(signal.SIGTERM)
        process.popen.wait()


async def closed_loop(port, sessions, seconds, prefix, wait_reply):
    """Each session: POST, (wait for its reply,) repeat. Returns latencies in ms."""
    acks, replies, failures = [], [], 0
    stop_at = common.now_ns() + int(seconds * 1e9)
    started = common.now_ns()

    async def session_loop(n):
        nonlocal failures
        session = f"{prefix}-{n}"
        waiting = {}
        follower = None
        if wait_reply:
            async def follow():
                async for _, name, data, arrival in common.sse_events(port, session):
                    if name == "reply":
                        future = waiting.pop(data["in_reply_to"], None)
                        if future and not future.done():
                            future.set_result(arrival)

            follower = asyncio.create_task(follow())
            await asyncio.sleep(0.1)
        conn = common.HTTPConnection(port)
        try:
            while common.now_ns() < stop_at:
                message_id = common.new_id()
                future = asyncio.get_running_loop().create_future()
                waiting[message_id] = future
                sent = common.now_ns()
                status, _, _ = await conn.request("POST", "/v1/messages", common.message_body(session, "ping", message_id=message_id))
                acked = common.now_ns()
                if status != 202:
                    failures += 1
                    continue
                acks.append((acked - sent) / 1e6)
                if wait_reply:
                    arrival = await asyncio.wait_for(future, 30)
                    replies.append((arrival - sent) / 1e6)
        finally:
            conn.close()
            if follower:
                follower.cancel()

    await asyncio.gather(*(session_loop(n) for n in range(sessions)))
    elapsed = (common.now_ns() - started) / 1e9
    result = {
        "ack_p50_ms": round(common.percentile(acks, 50), 3),
        "ack_p99_ms": round(common.percentile(acks, 99), 3),
        "failures": failures,
        "posts_per_s": round(len(acks) / elapsed, 1),
    }
    if wait_reply:
        result.update(
            reply_p50_ms=round(common.percentile(replies, 50), 3),
            reply_p99_ms=round(common.percentile(replies, 99), 3),
            replies_per_s=round(len(replies) / elapsed, 1),
        )
    return result


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((common.HOST, port), 0.5).close()
            return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"nothing listens on {port}")


async def measure_baton(args, folder, index):
    port = common.free_port()
    state = os.path.join(folder, f"baton-{index}")
    env = common.baton_env(port, state, agent_delay=0, limits_max_queue_per_session=1_000_000)
    process = common.Process([common.BATON, "serve"], env, os.path.join(folder, "baton.log"))
    try:
        await common.wait_http_ready(port)
        threads_before = common.cpu_seconds_by_thread(process.pid)
        result = {"wrk": await asyncio.to_thread(wrk, port, args, f"r{index}w")}
        wrk_end = time.time()
        # Let it answer what wrk left queued (requests wrk abandoned at its end may still
        # be on their way in), then read the store.
        deadline = time.monotonic() + 120
        db = sqlite3.connect(os.path.join(state, "baton.sqlite"))
        while True:
            _, _, status = await common.get_json(port, "/v1/status")
            first, count = db.execute("SELECT MIN(accepted_at), COUNT(*) FROM messages").fetchone()
            done = db.execute("SELECT COUNT(*) FROM messages WHERE state = 'done'").fetchone()[0]
            replies, last = db.execute("SELECT COUNT(*), MAX(created_at) FROM events WHERE kind = 'reply'").fetchone()
            settled = status["in_flight"] == 0 and status["queued"] == 0 and done == count
            if settled or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        threads_after = common.cpu_seconds_by_thread(process.pid)
        cpu = sum(threads_after.values()) - sum(threads_before.values())
        threads = common.cpu_us_by_thread(threads_before, threads_after, replies)
        db.close()
        result["answered"] = {
            "messages": count,
            "done": done,
            "replies": replies,
            "answered_per_s": round(replies / (last - first), 1) if replies else 0,
            "backlog_after_wrk_ms": round(max(0.0, last - wrk_end) * 1000, 1) if replies else None,
            "cpu_s": round(cpu, 2),
            "cpu_us_per_message": round(cpu * 1e6 / replies, 1) if replies else None,
            "cpu_us_by_thread": threads,
        }
        result["latency"] = await closed_loop(port, args.latency_sessions, args.latency_duration, f"r{index}l", True)
        return result
    finally:
        process.stop()


async def measure_refused(args, folder, index):
    """Baton's HTTP layer alone: every POST refused with 400 (an empty session)."""
    port = common.free_port()
    state = os.path.join(folder, f"refused-{index}")
    env = common.baton_env(port, state, agent_delay=0)
    process = common.Process([common.BATON, "serve"], env, os.path.join(folder, "refused.log"))
    try:
        await common.wait_http_ready(port)
        cpu_before = common.cpu_seconds(process.pid)
        result = await asyncio.to_thread(wrk, port, args, f"r{index}x", True)
        cpu = common.cpu_seconds(process.pid) - cpu_before
        # wrk counts every 400 as a status error: here they are the point.
        refused = result.pop("errors")
        result["refused"] = refused
        result["cpu_us_per_post"] = round(cpu * 1e6 / result["requests"], 1) if result["requests"] else None
        stored = sqlite3.connect(os.path.join(state, "baton.sqlite")).execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        result["stored"] = stored
        return result
    finally:
        process.stop()


async def measure_bare(args, folder, index):
    port = common.free_port()
    # The same environment as Baton's (the unit's), so the two differ only in their code.
    process = common.Process([common.BARE, str(port)], common.with_unit_environment(), os.path.join(folder, "bare.log"))
    try:
        await asyncio.to_thread(wait_port, port)
        threads_before = common.cpu_seconds_by_thread(process.pid)
        result = {"wrk": await asyncio.to_thread(wrk, port, args, f"r{index}w")}
        threads_after = common.cpu_seconds_by_thread(process.pid)
        cpu = sum(threads_after.values()) - sum(threads_before.values())
        result["cpu_us_per_post"] = round(cpu * 1e6 / result["wrk"]["requests"], 1) if result["wrk"]["requests"] else None
        result["cpu_us_by_thread"] = common.cpu_us_by_thread(threads_before, threads_after, result["wrk"]["requests"])
        result["latency"] = await closed_loop(port, args.latency_sessions, args.latency_duration, f"r{index}l", False)
        return result
    finally:
        process.stop()


async def main(args):
    folder = common.state_root()
    runs = []
    try:
        for index in range(args.runs):
            run = {}
            order = ["baton", "refused", "bare"] if index % 2 == 0 else ["bare", "refused", "baton"]
            measure = {"baton": measure_baton, "refused": measure_refused, "bare": measure_bare}
            for side in order:
                run[side] = await measure[side](args, folder, index)
            run["rps_ratio"] = round(run["baton"]["wrk"]["rps"] / run["bare"]["wrk"]["rps"], 3)
            runs.append(run)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    def med(path):
        values = []
        for run in runs:
            value = run
            for key in path.split("."):
                value = value[key]
            values.append(value)
        return common.median(values)

    summary = {
        key: med(key)
        for key in (
            "rps_ratio",
            "baton.wrk.rps", "baton.wrk.p50_ms", "baton.wrk.p99_ms", "baton.wrk.errors",
            "bare.wrk.rps", "bare.wrk.p50_ms", "bare.wrk.p99_ms", "bare.wrk.errors",
            "baton.answered.answered_per_s", "baton.answered.backlog_after_wrk_ms",
            "baton.answered.cpu_us_per_message", "bare.cpu_us_per_post", "refused.cpu_us_per_post", "refused.rps",
            "baton.latency.ack_p50_ms", "baton.latency.ack_p99_ms",
            "baton.latency.reply_p50_ms", "baton.latency.reply_p99_ms", "baton.latency.replies_per_s",
            "bare.latency.ack_p50_ms", "bare.latency.ack_p99_ms",
            *(f"baton.answered.cpu_us_by_thread.{kind}" for kind in common.THREAD_KIND_NAMES),
            *(f"bare.cpu_us_by_thread.{kind}" for kind in common.THREAD_KIND_NAMES),
        )
    }
    # Every refused POST was answered 400 (wrk's status errors) and none was stored.
    summary["all_refused"] = all(
        run["refused"]["refused"] == run["refused"]["requests"] and run["refused"]["stored"] == 0 for run in runs
    )
    summary["all_answered"] = all(
        run["baton"]["answered"]["done"] == run["baton"]["answered"]["messages"] == run["baton"]["answered"]["replies"]
        for run in runs
    )
    return {
        "benchmark": "throughput",
        "runs": len(runs),
        "thread_kinds": common.THREAD_KIND_NAMES,
        "wrk": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration,
                "sessions_per_thread": args.wrk_sessions},
        "latency_client": {"sessions": args.latency_sessions, "duration_s": args.latency_duration},
        "median": summary,
        "all": runs,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (2 cores: leave one to the server)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=5, help="wrk seconds per side per run")
    parser.add_argument("--wrk-sessions", type=int, default=1000)
    parser.add_argument("--latency-sessions", type=int, default=16)
    parser.add_argument("--latency-duration", type=float, default=4)
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    common.emit(asyncio.run(main(args)), args.json)
