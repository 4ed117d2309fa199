#!/usr/bin/env python3
"""Matrix: a person's message to Baton's reply in their room, against a bare echo bot on
the same homeserver; then nothing lost or doubled over restarts and SIGKILLs.

Starts a Synapse (from the virtual environment scripts/synapse.sh installs, or
BENCH_SYNAPSE_PYTHON) in a scratch folder on a free loopback port, with SQLite and its
rate limits lifted, registers @baton, @alice (in Baton's `admins`) and @echo by the shared
secret, and starts `baton serve` with a `matrix:` section (demo agent, `agent.delay: 0`,
`auto_join: admins`). Alice makes one room with Baton and one with the echo bot: a
separate Python process, a bare /sync loop that answers every m.text of another user
with a reply to it (m.relates_to / m.in_reply_to), nothing stored.

latency   --rounds rounds (after --warmup unmeasured ones), each sending one message to
          Baton's room and one to the echo bot's room, alternating which goes first:
          from just before alice's PUT /send to the reply arriving on alice's own /sync
          long-poll (what the person sees). p50/p99 for both; the echo bot is the floor
          the homeserver sets (two long-polls, two sends).

kill loop In a third room alice sends a message every --interval seconds for --duration
          seconds while, at seeded random moments, the script sends baton SIGUSR1 (drain,
          exit 75), SIGTERM (drain, exit 0) or SIGKILL, --restarts graceful ones
          (alternating SIGUSR1 and SIGTERM) and --kills SIGKILLs in a shuffled order, and
          starts it again each time (a new event waits for the process to answer /readyz).
          Then it waits until every message has a reply and Baton's delivery backlog is
          empty, and counts from the room's /messages: messages with no reply (lost),
          with more than one (duplicated), and replies not in the order of the messages.
          Goal 0, 0, 0. The seed and the count of each signal are printed.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

import common

SERVER_NAME = "bench.test"
SHARED_SECRET = "bench-registration-secret-0123456789"
# Only messages in the timeline; nothing else wakes a long-poll.
SYNC_FILTER = json.dumps(
    {
        "room": {
            "timeline": {"limit": 100, "types": ["m.room.message"]},
            "state": {"types": ["m.room.encryption"]},
            "ephemeral": {"not_types": ["*"]},
            "account_data": {"not_types": ["*"]},
        },
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
    separators=(",", ":"),
)


def synapse_python():
    path = os.environ.get("BENCH_SYNAPSE_PYTHON") or os.path.join(common.REPO, ".venv-synapse", "bin", "python")
    if not os.access(path, os.X_OK):
        sys.exit(f"matrix.py: no Synapse at {path}: run scripts/synapse.sh (scripts/bench.sh does)")
    return path


def quote(text):
    return urllib.parse.quote(text, safe="")


class MatrixError(Exception):
    pass


class Matrix:
    """One user's client-server API over one keep-alive connection (one request at a time)."""

    def __init__(self, port, token=None, user_id=None):
        self.port, self.token, self.user_id = port, token, user_id
        self.conn = common.HTTPConnection(port)

    def close(self):
        self.conn.close()

    async def call(self, method, path, body=None, timeout=60, attempts=3):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        data = json.dumps(body).encode() if body is not None else b""
        for attempt in range(attempts):
            try:
                status, _, raw = await asyncio.wait_for(self.conn.request(method, path, data, headers), timeout)
                break
            except (common.ConnectionClosed, ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                self.conn.close()
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1)
        answer = json.loads(raw) if raw else {}
        if status != 200:
            raise MatrixError(f"{method} {path.split('?')[0]}: HTTP {status} {raw[:300]!r}")
        return answer

    async def sync(self, since=None, timeout_ms=30000):
        path = f"/_matrix/client/v3/sync?filter={quote(SYNC_FILTER)}&timeout={timeout_ms}"
        if since:
            path += f"&since={quote(since)}"
        return await self.call("GET", path, timeout=timeout_ms / 1000 + 30)

    async def send(self, room, content, txn):
        answer = await self.call("PUT", f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{quote(txn)}", content)
        return answer["event_id"]

    async def create_room(self, invite):
        answer = await self.call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat", "invite": invite})
        return answer["room_id"]

    async def joined_members(self, room):
        answer = await self.call("GET", f"/_matrix/client/v3/rooms/{quote(room)}/joined_members")
        return set(answer.get("joined", {}))

    async def messages(self, room):
        """Every m.room.message of the room, oldest first: (event id, sender, msgtype, in_reply_to)."""
        found, start = [], None
        while True:
            path = f"/_matrix/client/v3/rooms/{quote(room)}/messages?dir=f&limit=500"
            if start:
                path += f"&from={quote(start)}"
            page = await self.call("GET", path)
            chunk = page.get("chunk", [])
            for event in chunk:
                if event.get("type") != "m.room.message":
                    continue
                content = event.get("content", {})
                reply_to = content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                found.append((event["event_id"], event.get("sender"), content.get("msgtype"), reply_to))
            if not chunk or not page.get("end"):
                return found
            start = page["end"]


def timeline_messages(response):
    """(room, event) for every m.room.message in a /sync response's joined rooms."""
    for room, joined in response.get("rooms", {}).get("join", {}).items():
        for event in joined.get("timeline", {}).get("events", []):
            if event.get("type") == "m.room.message":
                yield room, event


# ---------------------------------------------------------------- the bare echo bot


async def echo_bot(port, token, user_id):
    """A /sync loop that joins every room it is invited to and answers every m.text of
    another user with a reply to it. Prints `ready` once its first sync is done."""
    client = Matrix(port, token, user_id)
    sender = Matrix(port, token, user_id)
    first = await client.sync(timeout_ms=0)
    since = first["next_batch"]
    pending_invites = list(first.get("rooms", {}).get("invite", {}))
    print("ready", flush=True)
    while True:
        try:
            for room in pending_invites:
                await sender.call("POST", f"/_matrix/client/v3/join/{quote(room)}", {})
            response = await client.sync(since)
        except (MatrixError, OSError, asyncio.TimeoutError, common.ConnectionClosed) as error:
            print(f"echo bot: {error}", file=sys.stderr, flush=True)
            await asyncio.sleep(0.5)
            continue
        since = response["next_batch"]
        pending_invites = list(response.get("rooms", {}).get("invite", {}))
        for room, event in timeline_messages(response):
            content = event.get("content", {})
            if event.get("sender") == user_id or content.get("msgtype") != "m.text":
                continue
            reply = {
                "msgtype": "m.text",
                "body": f"echo: {content.get('body', '')}",
                "m.relates_to": {"m.in_reply_to": {"event_id": event["event_id"]}},
            }
            # A transaction id from the event: sent again after an error, it is one message.
            txn = "echo-" + hashlib.sha1(event["event_id"].encode()).hexdigest()
            while True:
                try:
                    await sender.send(room, reply, txn)
                    break
                except (MatrixError, OSError, asyncio.TimeoutError, common.ConnectionClosed) as error:
                    print(f"echo bot: {error}", file=sys.stderr, flush=True)
                    await asyncio.sleep(0.5)


# ---------------------------------------------------------------- Synapse


class Synapse:
    def __init__(self, folder):
        self.folder = os.path.join(folder, "synapse")
        os.makedirs(self.folder)
        self.python = synapse_python()
        self.port = common.free_port()
        self.log = os.path.join(self.folder, "synapse.log")
        self.process = None
        limit = "{per_second: 10000, burst_count: 100000}"
        path = lambda name: os.path.join(self.folder, name)  # noqa: E731
        self.config = path("homeserver.yaml")
        with open(self.config, "w") as f:
            f.write(
                f'server_name: "{SERVER_NAME}"\n'
                f"pid_file: {path('homeserver.pid')}\n"
                "listeners:\n"
                f"  - port: {self.port}\n"
                "    bind_addresses: ['127.0.0.1']\n"
                "    type: http\n    tls: false\n    x_forwarded: false\n"
                "    resources:\n      - names: [client]\n        compress: false\n"
                f"database:\n  name: sqlite3\n  args:\n    database: {path('homeserver.db')}\n"
                f"media_store_path: {path('media')}\n"
                f"signing_key_path: {path('signing.key')}\n"
                f'registration_shared_secret: "{SHARED_SECRET}"\n'
                'macaroon_secret_key: "bench-macaroon-secret-0123456789"\n'
                'form_secret: "bench-form-secret-0123456789"\n'
                "report_stats: false\n"
                "trusted_key_servers: []\n"
                "federation_domain_whitelist: []\n"
                "suppress_key_server_warning: true\n"
                "enable_registration: false\n"
                "presence:\n  enabled: false\n"
                f"rc_message: {limit}\n"
                f"rc_registration: {limit}\n"
                f"rc_login:\n  address: {limit}\n  account: {limit}\n  failed_attempts: {limit}\n"
                f"rc_joins:\n  local: {limit}\n  remote: {limit}\n"
                f"rc_joins_per_room: {limit}\n"
                f"rc_invites:\n  per_room: {limit}\n  per_user: {limit}\n  per_issuer: {limit}\n"
                f"rc_room_creation: {limit}\n"
                f"rc_profile: {limit}\n"
            )

    @property
    def url(self):
        return f"http://{common.HOST}:{self.port}"

    def version(self):
        out = subprocess.run([self.python, "-c", "import synapse; print(synapse.__version__)"], capture_output=True, text=True)
        return (out.stdout.split() or [None])[0]

    async def start(self, timeout=120):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_SOCKET", "LISTEN_", "BATON_"))}
        self.process = common.Process(
            [self.python, "-m", "synapse.app.homeserver", "-c", self.config], env, self.log
        )
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.popen.poll() is not None:
                raise RuntimeError(f"Synapse exited with {self.process.popen.returncode}; log: {self.tail()}")
            try:
                status, _, _ = await common.get_json(self.port, "/_matrix/client/versions", timeout=2)
                if status == 200:
                    return time.monotonic() - started
            except (OSError, common.ConnectionClosed, asyncio.TimeoutError, asyncio.IncompleteReadError):
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"Synapse did not answer within {timeout} s; log: {self.tail()}")

    def tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.process:
            self.process.stop()

    async def register(self, name):
        """A user by the shared-secret admin API; returns a Matrix client logged in as it."""
        anonymous = Matrix(self.port)
        try:
            nonce = (await anonymous.call("GET", "/_synapse/admin/v1/register"))["nonce"]
            password = f"password-{name}-0123456789"
            mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
            mac.update(b"\x00".join([nonce.encode(), name.encode(), password.encode(), b"notadmin"]))
            answer = await anonymous.call(
                "POST", "/_synapse/admin/v1/register",
                {"nonce": nonce, "username": name, "password": password, "admin": False, "mac": mac.hexdigest()},
            )
        finally:
            anonymous.close()
        return Matrix(self.port, answer["access_token"], answer["user_id"])


# ---------------------------------------------------------------- Baton


class Baton:
    """`baton serve` as the bot, started again as often as the kill loop needs."""

    def __init__(self, folder, synapse, bot, admin):
        self.folder = folder
        self.bot = bot.user_id
        self.port = common.free_port()
        self.log = os.path.join(folder, "baton.log")
        config = os.path.join(folder, "baton.yaml")
        with open(config, "w") as f:
            f.write(
                f'admins: ["{admin}"]\n'
                "agent:\n  kind: demo\n  delay: 0\n"
                "matrix:\n"
                f"  homeserver: {synapse.url}\n"
                f'  user_id: "{bot.user_id}"\n'
                f'  access_token: "{bot.token}"\n'
                "  auto_join: admins\n"
            )
        self.env = common.baton_env(self.port, os.path.join(folder, "state"))
        self.env["BATON_CONFIG"] = config
        self.process = None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.process = common.Process([common.BATON, "serve"], self.env, self.log)
        return self.process

    async def ready(self, timeout=60):
        await common.wait_http_ready(self.port, timeout)

    async def status(self):
        _, _, status = await common.get_json(self.port, "/v1/status")
        return status

    async def matrix_status(self):
        try:
            return ((await self.status()) or {}).get("networks", {}).get("matrix") or {}
        except (OSError, common.ConnectionClosed, asyncio.TimeoutError, asyncio.IncompleteReadError):
            return {}

    def stop(self):
        if self.process:
            self.process.stop()


async def wait_until(what, check, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout} s")


# ---------------------------------------------------------------- alice's view


class Person:
    """Alice: sends over one connection, and sees replies on her own /sync long-poll."""

    def __init__(self, client, repliers):
        self.client = client
        self.sync_client = Matrix(client.port, client.token, client.user_id)
        self.repliers = set(repliers)
        self.arrivals = {}  # event id replied to -> arrival ns of the first reply seen
        self.waiters = {}
        self.task = None

    async def start(self):
        since = (await self.sync_client.sync(timeout_ms=0))["next_batch"]
        self.task = asyncio.create_task(self.follow(since))

    async def follow(self, since):
        while True:
            try:
                response = await self.sync_client.sync(since)
            except (MatrixError, OSError, asyncio.TimeoutError, common.ConnectionClosed) as error:
                print(f"matrix: alice's sync: {error}", file=sys.stderr, flush=True)
                await asyncio.sleep(0.5)
                continue
            arrival = common.now_ns()
            since = response["next_batch"]
            for _, event in timeline_messages(response):
                if event.get("sender") not in self.repliers:
                    continue
                content = event.get("content", {})
                target = content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                if content.get("msgtype") != "m.text" or not target or target in self.arrivals:
                    continue
                self.arrivals[target] = arrival
                waiter = self.waiters.pop(target, None)
                if waiter and not waiter.done():
                    waiter.set_result(arrival)

    async def round_trip(self, room, text, timeout=30):
        """(ms from just before the send to the reply on alice's sync, ms the send took)."""
        started = common.now_ns()
        event_id = await self.client.send(room, {"msgtype": "m.text", "body": text}, common.new_id())
        sent = common.now_ns()
        if event_id not in self.arrivals:
            future = asyncio.get_running_loop().create_future()
            self.waiters[event_id] = future
            try:
                await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                self.waiters.pop(event_id, None)
                return None, (sent - started) / 1e6
        return (self.arrivals[event_id] - started) / 1e6, (sent - started) / 1e6

    async def close(self):
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.sync_client.close()


def summary(latencies):
    values = [v for v in latencies if v is not None]
    return {
        "rounds": len(latencies),
        "unanswered": len(latencies) - len(values),
        "p50_ms": round(common.percentile(values, 50), 2) if values else None,
        "p99_ms": round(common.percentile(values, 99), 2) if values else None,
        "min_ms": round(min(values), 2) if values else None,
        "max_ms": round(max(values), 2) if values else None,
    }


async def latency(alice, baton_room, echo_room, args):
    measured = {"baton": [], "echo": []}
    sends = {"baton": [], "echo": []}
    rooms = {"baton": baton_room, "echo": echo_room}
    for index in range(args.warmup + args.rounds):
        order = ["baton", "echo"] if index % 2 == 0 else ["echo", "baton"]
        for side in order:
            took, send = await alice.round_trip(rooms[side], f"round {index} to {side}")
            if index >= args.warmup:
                measured[side].append(took)
                sends[side].append(send)
            await asyncio.sleep(args.pause)
    result = {side: summary(values) for side, values in measured.items()}
    for side in result:
        result[side]["send_p50_ms"] = round(common.percentile(sends[side], 50), 2)
    if result["baton"]["p50_ms"] and result["echo"]["p50_ms"]:
        result["p50_difference_ms"] = round(result["baton"]["p50_ms"] - result["echo"]["p50_ms"], 2)
        result["p50_ratio"] = round(result["baton"]["p50_ms"] / result["echo"]["p50_ms"], 2)
    return result


# ---------------------------------------------------------------- restarts and kills

EXPECTED = {"restart": 75, "stop": 0, "kill": -signal.SIGKILL}
SIGNALS = {"restart": signal.SIGUSR1, "stop": signal.SIGTERM, "kill": signal.SIGKILL}


def schedule(args):
    """The events of the kill loop: (seconds after the start, kind), from the seed."""
    rng = random.Random(args.seed)
    kinds = ["kill"] * args.kills + [("restart", "stop")[k % 2] for k in range(args.restarts)]
    rng.shuffle(kinds)
    moments = sorted(rng.uniform(0.5, max(1.0, args.duration - 0.5)) for _ in kinds)
    return list(zip(moments, kinds))


async def kill_loop(alice, baton, room, args):
    loop = asyncio.get_running_loop()
    sent, send_failures = [], 0
    sending = True

    async def sender():
        nonlocal send_failures
        number = 0
        next_at = time.monotonic()
        while sending:
            number += 1
            txn = common.new_id()
            while True:
                try:
                    sent.append(await alice.client.send(room, {"msgtype": "m.text", "body": f"steady {number}"}, txn))
                    break
                except (MatrixError, OSError, asyncio.TimeoutError, common.ConnectionClosed):
                    send_failures += 1  # the same transaction id again: sent at most once
                    await asyncio.sleep(0.1)
            next_at += args.interval
            await asyncio.sleep(max(0, next_at - time.monotonic()))

    events = []
    start = time.monotonic()
    task = asyncio.create_task(sender())
    try:
        for moment, kind in schedule(args):
            await asyncio.sleep(max(0, start + moment - time.monotonic()))
            await baton.ready(60)  # a process that is up; a restart may still be under way
            process = baton.process
            exited = process.watch(loop)
            fired = time.monotonic() - start
            process.signal(SIGNALS[kind])
            await asyncio.wait_for(exited, 120)
            status = process.returncode
            events.append({"at_s": round(fired, 3), "kind": kind, "exit_status": status, "expected": EXPECTED[kind]})
            down_from = common.now_ns()
            process.stop()  # reaped; closes the pidfd and log
            baton.start()
            events[-1]["restarted_after_ms"] = common.ms(common.now_ns() - down_from)
        await asyncio.sleep(max(0, start + args.duration - time.monotonic()))
    finally:
        sending = False
        await task
    sending_s = time.monotonic() - start

    await baton.ready(60)
    wanted = set(sent)
    settle_start = time.monotonic()

    async def settled():
        status = await baton.matrix_status()
        if status.get("backlog", 1) != 0 or status.get("state") != "connected":
            return None
        messages = await alice.client.messages(room)
        answered = {target for _, sender_id, kind, target in messages if sender_id == baton.bot and kind == "m.text"}
        return messages if wanted <= answered else None

    try:
        await wait_until("every message answered", settled, args.answer_timeout, interval=0.5)
    except TimeoutError:
        pass
    await asyncio.sleep(args.settle)  # anything delivered twice would show now
    settle_s = time.monotonic() - settle_start
    messages = await alice.client.messages(room)
    replies = {}
    reply_order = []
    for _, sender_id, kind, target in messages:
        if sender_id == baton.bot and kind == "m.text" and target:
            replies[target] = replies.get(target, 0) + 1
            if target in wanted and target not in reply_order:
                reply_order.append(target)
    lost = [m for m in sent if m not in replies]
    duplicated = [m for m in sent if replies.get(m, 0) > 1]
    notices = sum(1 for _, sender_id, kind, _ in messages if sender_id == baton.bot and kind == "m.notice")
    unexpected = [e for e in events if e["exit_status"] != e["expected"]]
    return {
        "seed": args.seed,
        "duration_s": round(sending_s, 1),
        "interval_s": args.interval,
        "kills": sum(1 for e in events if e["kind"] == "kill"),
        "restarts": sum(1 for e in events if e["kind"] == "restart"),
        "stops": sum(1 for e in events if e["kind"] == "stop"),
        "events": events,
        "sent": len(sent),
        "send_retries": send_failures,
        "answered": sum(1 for m in sent if m in replies),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "out_of_order": 0 if reply_order == [m for m in sent if m in replies] else 1,
        "unexpected_exits": len(unexpected),
        "notices": notices,
        "wait_for_answers_s": round(settle_s, 1),
        "lost_ids": lost[:20],
        "duplicated_ids": duplicated[:20],
    }


# ---------------------------------------------------------------- main


async def main(args):
    folder = common.state_root()
    synapse = Synapse(folder)
    baton = echo = alice = None
    clients = []
    result = {"benchmark": "matrix", "rounds": args.rounds, "warmup": args.warmup}
    try:
        result["synapse_start_s"] = round(await synapse.start(), 2)
        result["synapse_version"] = synapse.version()
        bot = await synapse.register("baton")
        alice_client = await synapse.register("alice")
        echo_user = await synapse.register("echo")
        clients += [bot, alice_client, echo_user]

        echo_log = open(os.path.join(folder, "echo.log"), "ab")
        echo = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--echo-bot", str(synapse.port), echo_user.token, echo_user.user_id],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=echo_log,
        )
        line = await asyncio.wait_for(asyncio.to_thread(echo.stdout.readline), 60)
        if line.strip() != b"ready":
            raise RuntimeError("the echo bot did not start (see echo.log)")

        baton = Baton(folder, synapse, bot, alice_client.user_id)
        baton.start()
        await baton.ready(60)
        await wait_until("the Matrix adapter to connect",
                         lambda: _state_is(baton, "connected"), 60)

        baton_room = await alice_client.create_room([bot.user_id])
        echo_room = await alice_client.create_room([echo_user.user_id])
        steady_room = await alice_client.create_room([bot.user_id])

        async def joined():
            rooms = set((await baton.matrix_status()).get("rooms", []))
            return {baton_room, steady_room} <= rooms and echo_user.user_id in await alice_client.joined_members(echo_room)

        await wait_until("the bots to join their rooms", joined, 60)
        alice = Person(alice_client, [bot.user_id, echo_user.user_id])
        await alice.start()

        print(f"matrix: latency, {args.rounds} rounds after {args.warmup} warm-up", file=sys.stderr, flush=True)
        result["latency"] = await latency(alice, baton_room, echo_room, args)
        print(
            f"matrix: kill loop, seed {args.seed}, {args.kills} SIGKILLs and {args.restarts} restarts/stops "
            f"over {args.duration} s, a message every {args.interval} s",
            file=sys.stderr, flush=True,
        )
        result["kill_loop"] = await kill_loop(alice, baton, steady_room, args)
        k = result["kill_loop"]
        print(
            f"matrix: seed {k['seed']}: {k['kills']} SIGKILLs, {k['restarts']} SIGUSR1, {k['stops']} SIGTERM; "
            f"{k['sent']} sent, {k['lost']} lost, {k['duplicated']} duplicated",
            file=sys.stderr, flush=True,
        )
        if k["lost"] or k["duplicated"] or k["unexpected_exits"]:
            common.keep_log(baton.log, "matrix-baton.log")
    finally:
        if alice:
            await alice.close()
        for client in clients:
            client.close()
        if baton:
            baton.stop()
        if echo:
            echo.kill()
            echo.wait()
        synapse.stop()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return result


async def _state_is(baton, state):
    return (await baton.matrix_status()).get("state") == state


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--echo-bot":
        try:
            asyncio.run(echo_bot(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        except KeyboardInterrupt:
            pass
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100, help="measured round trips to each bot")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured round trips first")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between round trips")
    parser.add_argument("--duration", type=float, default=60, help="seconds of steady conversation in the kill loop")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between messages in the kill loop")
    parser.add_argument("--kills", type=int, default=6, help="SIGKILLs in the kill loop")
    parser.add_argument("--restarts", type=int, default=4, help="graceful restarts in the kill loop (SIGUSR1, SIGTERM, ...)")
    parser.add_argument("--seed", type=int, default=None, help="the kill loop's moments (default: random, printed)")
    parser.add_argument("--answer-timeout", type=float, default=180, help="seconds to wait for every answer")
    parser.add_argument("--settle", type=float, default=2, help="seconds to wait after that before counting")
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    common.emit(asyncio.run(main(args)), args.json)
