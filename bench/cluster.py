#!/usr/bin/env python3
"""Several Baton processes on one PostgreSQL, behind HAProxy, under continuous load while
each is restarted in turn and then one is SIGKILLed; and one process on PostgreSQL
against one on SQLite, in the same run.

Needs root (scripts/postgres.sh runs the throwaway cluster as `nobody`) and Debian's
`postgresql` and `haproxy` (scripts/bench.sh installs them). All on 127.0.0.1.

The cluster part:
  - a throwaway PostgreSQL (scripts/postgres.sh up), --processes `baton serve` on one
    database (demo agent, `agent.delay` = --delay, `store.lease` = --lease), HAProxy in
    front (round robin, health check `GET /readyz` every 100 ms, a server out after one
    failed check, in after one good one; a check's answer may take up to 1 s, so a
    server that is busy, not down, stays in (a 503 from a draining process, or a refused
    connection, still takes it out at once); `retry-on conn-failure empty-response
    response-timeout` with `option redispatch`: a request cut off by a process going
    away is tried on a peer).
  - --clients clients post through HAProxy continuously, each over one keep-alive
    connection, round-robin over --sessions-per-client sessions, at most --rate
    messages/s each. Every message carries an idempotency `id`; a request that gets no
    202 is counted as failed and sent again with the same `id`.
  - each process in turn gets SIGUSR1 (`systemctl reload`): it drains, exits 75, and is
    started again, as systemd would; then one process is SIGKILLed and started again
    after --lease + --settle seconds.
  - afterwards, every acknowledged message must have exactly one reply, and each
    session's replies must be in the order its messages were acknowledged. The wait of a
    message is from its 202 to its reply's commit (PostgreSQL's `events.created_at`):
    the longest is how long a message queued on a draining or dead process waited for a
    peer.

The throughput part: wrk (bench/post.lua, as bench/throughput.py) against one process on
PostgreSQL and one on SQLite, back to back, for --duration seconds each.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import time

import common
import throughput

SCRIPTS = os.path.join(common.REPO, "scripts")


class Postgres:
    """The throwaway cluster of scripts/postgres.sh."""

    def __enter__(self):
        # fsync on: a commit costs what it costs in production, as SQLite's fdatasync does.
        out = subprocess.run(
            [os.path.join(SCRIPTS, "postgres.sh"), "up"], check=True, capture_output=True, text=True,
            env=dict(os.environ, BATON_POSTGRES_DURABLE="yes")).stdout
        exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if line.startswith("export "))
        self.dir = exports["BATON_TEST_POSTGRES_DIR"]
        self.url = exports["BATON_TEST_POSTGRES_URL"]
        return self

    def __exit__(self, *_):
        subprocess.run([os.path.join(SCRIPTS, "postgres.sh"), "down"], env=dict(os.environ, BATON_TEST_POSTGRES_DIR=self.dir))

    def database(self, name):
        self.psql("postgres", f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def psql(self, database, sql):
        port = self.url.rsplit(":", 1)[1].split("/")[0]
        return subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", port, "-U", "baton", "-d", database, "-At", "-F", "\t", "-c", sql],
            check=True, capture_output=True, text=True).stdout


def haproxy_config(front, ports):
    servers = "\n".join(f"    server b{i} {common.HOST}:{port} check" for i, port in enumerate(ports))
    return f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend chat
    bind {common.HOST}:{front}
    default_backend baton
backend baton
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    # Without it a check times out after `inter`: with both cores busy (the debug build
    # in CI) all three answered slower than 100 ms once, and HAProxy had no server left.
    timeout check 1s
    default-server inter 100ms fall 1 rise 1
{servers}
"""


class Member:
    """One `baton serve` of the cluster, started again after each exit."""

    def __init__(self, index, url, folder, args):
        self.index, self.folder = index, folder
        self.port = common.free_port()
        self.env = common.baton_env(
            self.port, os.path.join(folder, f"state-{index}"), store_url=url, store_lease=args.lease,
            agent_delay=args.delay, drain_timeout=30, limits_max_queue_per_session=100000)
        self.process = None
        self.exits = []

    async def start(self):
        self.process = common.Process([common.BATON, "serve"], self.env, os.path.join(self.folder, f"baton-{self.index}.log"))
        await common.wait_http_ready(self.port)

    async def stop(self, sig):
        loop = asyncio.get_running_loop()
        gone = self.process.watch(loop)
        self.process.signal(sig)
        await asyncio.wait_for(gone, 120)
        code = self.process.popen.wait()
        self.exits.append(-code if code < 0 else code)
        return code


class Load:
    def __init__(self, port, args):
        self.port, self.args = port, args
        self.sessions = [[f"c-{c}-{s}" for s in range(args.sessions_per_client)] for c in range(args.clients)]
        self.posting = True
        self.acked = {}  # id -> (session, wall-clock seconds of the 202)
        self.order = {}  # session -> ids in acknowledgement order
        self.counts = {"posts": 0, "failed": 0, "statuses": {}}

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
                    except (asyncio.TimeoutError, common.ConnectionClosed, ConnectionError, asyncio.IncompleteReadError) as error:
                        status = type(error).__name__
                    if status == 202:
                        self.acked[message_id] = (session, time.time())
                        self.order.setdefault(session, []).append(message_id)
                        break
                    # Failed: what a person would see. Sent again with the same id.
                    self.counts["failed"] += 1
                    self.counts["statuses"][str(status)] = self.counts["statuses"].get(str(status), 0) + 1
                    conn.close()
                    await asyncio.sleep(0.05)
                next_at += interval
                await asyncio.sleep(max(0, next_at - time.monotonic()))
        finally:
            conn.close()

    def run(self):
        return [asyncio.create_task(self.client(s)) for s in self.sessions]


def replies_by_message(pg, database):
    """message id -> [(reply id, event commit time)], in event order per session."""
    rows = pg.psql(database, "SELECT session, id, created_at, data FROM events WHERE kind = 'reply' ORDER BY session, id")
    replies, order = {}, {}
    for line in rows.splitlines():
        session, _, created, data = line.split("\t", 3)
        payload = json.loads(data)
        replies.setdefault(payload["in_reply_to"], []).append((payload["id"], float(created)))
        order.setdefault(session, []).append(payload["in_reply_to"])
    return replies, order


async def cluster_run(pg, folder, args):
    database = pg.database("cluster")
    members = [Member(i, database, folder, args) for i in range(args.processes)]
    for member in members:
        await member.start()
    front = common.free_port()
    config = os.path.join(folder, "haproxy.cfg")
    with open(config, "w") as f:
        f.write(haproxy_config(front, [m.port for m in members]))
    proxy = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=subprocess.DEVNULL, stderr=open(os.path.join(folder, "haproxy.log"), "wb"))
    try:
        await common.wait_http_ready(front)
        load = Load(front, args)
        clients = load.run()
        events = []
        await asyncio.sleep(args.settle)
        for member in members:
            started = time.monotonic()
            code = await member.stop(signal.SIGUSR1)
            await member.start()
            events.append({"what": f"SIGUSR1 to process {member.index}", "exit": code, "seconds": round(time.monotonic() - started, 2)})
            await asyncio.sleep(args.settle)
        victim = random.Random(args.seed).choice(members)
        code = await victim.stop(signal.SIGKILL)
        events.append({"what": f"SIGKILL to process {victim.index}", "exit": code})
        await asyncio.sleep(args.lease + args.settle)
        await victim.start()
        await asyncio.sleep(args.settle)
        load.posting = False
        await asyncio.gather(*clients)

        # Every acknowledged message answered: wait for the cluster's queue to empty.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            replies, _ = replies_by_message(pg, "cluster")
            if all(m in replies for m in load.acked):
                break
            await asyncio.sleep(0.5)
        replies, order = replies_by_message(pg, "cluster")
        lost = [m for m in load.acked if m not in replies]
        twice = [m for m, r in replies.items() if len(r) != 1 or len({i for i, _ in r}) != len(r)]
        out_of_order = [s for s, ids in load.order.items() if [m for m in order.get(s, []) if m in load.acked] != ids]
        waits = sorted(replies[m][0][1] - acked for m, (_, acked) in load.acked.items() if m in replies)
        return {
            "processes": args.processes,
            "events": events,
            "exit_statuses": [e["exit"] for e in events],
            "posts": load.counts["posts"],
            "acknowledged": len(load.acked),
            "failed": load.counts["failed"],
            "failed_statuses": load.counts["statuses"],
            "lost": len(lost),
            "answered_twice": len(twice),
            "sessions_out_of_order": len(out_of_order),
            "wait_p50_ms": round(common.percentile(waits, 50) * 1000, 1) if waits else None,
            "wait_p99_ms": round(common.percentile(waits, 99) * 1000, 1) if waits else None,
            "longest_wait_ms": round(waits[-1] * 1000, 1) if waits else None,
        }
    finally:
        proxy.terminate()
        proxy.wait()
        for member in members:
            if member.process and member.process.popen.poll() is None:
                member.process.signal(signal.SIGKILL)
                member.process.popen.wait()


def database_work(pg, database):
    """PostgreSQL's own counters for `database`: transactions and rows written."""
    row = pg.psql("postgres", "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                  f"WHERE datname = '{database}'")
    commits, rows = (int(v) for v in row.strip().split("\t"))
    return commits, rows


async def throughput_run(pg, folder, args):
    results = {}
    database = pg.database("single")
    for name in ["sqlite", "postgres"]:
        port = common.free_port()
        settings = dict(agent_delay=0, limits_max_queue_per_session=1_000_000)
        if name == "postgres":
            settings["store_url"] = database
        env = common.baton_env(port, os.path.join(folder, f"single-{name}"), **settings)
        if name == "postgres":
            # Statistics reach pg_stat_database within a second or so of each commit.
            await asyncio.sleep(1)
            before = database_work(pg, "single")
        results[name] = await throughput.wrk_until_answered(common.BATON, env, os.path.join(folder, f"{name}.log"), args, name)
    await asyncio.sleep(1.5)
    after = database_work(pg, "single")
    messages = int(pg.psql("single", "SELECT COUNT(*) FROM messages").strip())
    results["postgres"].update(
        messages=messages,
        transactions_per_message=round((after[0] - before[0]) / messages, 2),
        rows_written_per_message=round((after[1] - before[1]) / messages, 2))
    results["postgres_to_sqlite"] = round(results["postgres"]["rps"] / results["sqlite"]["rps"], 3)
    return results


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sessions-per-client", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20, help="messages per second per client")
    parser.add_argument("--delay", type=float, default=0.2, help="the demo agent's agent.delay")
    parser.add_argument("--lease", type=float, default=3, help="store.lease, seconds")
    parser.add_argument("--settle", type=float, default=3, help="seconds of load between events")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--duration", type=int, default=5, help="wrk seconds per store")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-sessions", type=int, default=1000)
    parser.add_argument("--json")
    args = parser.parse_args()
    args.seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    folder = common.state_root()
    with Postgres() as pg:
        result = {"seed": args.seed, "cluster": await cluster_run(pg, folder, args)}
        result["throughput"] = await throughput_run(pg, folder, args)
    common.keep_log(os.path.join(folder, "haproxy.log"), "cluster-haproxy")
    for i in range(args.processes):
        common.keep_log(os.path.join(folder, f"baton-{i}.log"), f"cluster-baton-{i}")
    common.emit(result, args.json)


if __name__ == "__main__":
    asyncio.run(main())
