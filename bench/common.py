"""Shared pieces of Baton's benchmarks: a small asyncio HTTP/1.1 and SSE client over raw
sockets, a NOTIFY_SOCKET the benchmark owns, process start/exit timing, statistics.

Standard library only. Every clock here is time.monotonic_ns() (CLOCK_MONOTONIC), the
clock systemd's *TimestampMonotonic properties use, so the two can be compared.
"""

import array
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATON = os.environ.get("BENCH_BATON", os.path.join(REPO, ".build", "release", "baton"))
BARE = os.environ.get("BENCH_BARE", os.path.join(REPO, ".build", "release", "bare-server"))
HOST = "127.0.0.1"


def unit_environment():
    """The `Environment=` settings of the shipped unit (units/baton.service): a benchmark
    runs `baton serve` with the environment systemd would give it."""
    settings = {}
    with open(os.path.join(REPO, "units", "baton.service")) as unit:
        for line in unit:
            if line.startswith("Environment="):
                key, _, value = line.strip()[len("Environment="):].partition("=")
                settings[key] = value
    return settings


# The benchmarks' own environment wins, so a run can try other settings.
UNIT_ENVIRONMENT = {k: v for k, v in unit_environment().items() if k not in os.environ}


def with_unit_environment():
    """This process's environment with the unit's settings added: for the processes a
    benchmark runs beside `baton serve` (the bare endpoint, store-bench, gateway-bench)."""
    return dict(os.environ, **UNIT_ENVIRONMENT)


def now_ns():
    return time.monotonic_ns()


def ms(ns):
    """Nanoseconds to milliseconds, rounded for reports."""
    return None if ns is None else round(ns / 1e6, 3)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def state_root():
    """A scratch folder on the real disk (fsync costs what it costs in production)."""
    base = os.environ.get("BENCH_TMP", "/var/tmp")
    return tempfile.mkdtemp(prefix="baton-bench-", dir=base)


# ---------------------------------------------------------------- HTTP over raw sockets


class ConnectionClosed(Exception):
    """The peer closed the connection before a whole response arrived."""


class HTTPConnection:
    """One keep-alive HTTP/1.1 connection (asyncio streams, no library)."""

    def __init__(self, port, host=HOST):
        self.host, self.port = host, port
        self.reader = self.writer = None
        # Times a kept-alive connection was found closed by the server while idle and
        # replaced before sending (what urllib3 and browsers do, too).
        self.stale_reconnects = 0

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def connected(self):
        return self.writer is not None

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send_head(self, method, path, body=b"", headers=None):
        if self.writer is not None and (self.reader.at_eof() or self.writer.is_closing()):
            self.close()
            self.stale_reconnects += 1
        if self.writer is None:
            await self.connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()

    async def read_head(self):
        line = await self.reader.readline()
        if not line:
            raise ConnectionClosed("connection closed before the status line")
        parts = line.split(None, 2)
        status = int(parts[1])
        headers = {}
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionClosed("connection closed in the headers")
            if line in (b"\r\n", b"\n"):
                break
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        return status, headers

    async def read_chunk(self):
        """The next piece of a chunked body; b"" at its end."""
        line = await self.reader.readline()
        if not line:
            raise ConnectionClosed("connection closed in a chunked body")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            await self.reader.readline()
            return b""
        data = await self.reader.readexactly(size + 2)
        return data[:-2]

    async def request(self, method, path, body=b"", headers=None):
        """Returns (status, headers, body bytes). Raises ConnectionClosed or OSError."""
        await self.send_head(method, path, body, headers)
        try:
            status, head = await self.read_head()
            if "content-length" in head:
                data = await self.reader.readexactly(int(head["content-length"]))
            elif head.get("transfer-encoding", "").lower() == "chunked":
                pieces = []
                while True:
                    piece = await self.read_chunk()
                    if not piece:
                        break
                    pieces.append(piece)
                data = b"".join(pieces)
            else:
                data = b""
        except asyncio.IncompleteReadError as error:
            raise ConnectionClosed("connection closed in the body") from error
        if head.get("connection", "").lower() == "close":
            self.close()
        return status, head, data


async def get_json(port, path, timeout=5):
    conn = HTTPConnection(port)
    try:
        status, head, data = await asyncio.wait_for(conn.request("GET", path), timeout)
        return status, head, (json.loads(data) if data else None)
    finally:
        conn.close()


async def sse_events(port, session, after=0, timeout=None):
    """Yields (event id or None, event name, data dict, arrival ns) from a session's stream
    until the server ends it (after `goodbye`) or the connection drops."""
    conn = HTTPConnection(port)
    try:
        await conn.send_head("GET", f"/v1/sessions/{session}/events", headers={"Last-Event-ID": str(after)})
        status, head = await conn.read_head()
        if status != 200:
            raise RuntimeError(f"events stream answered {status}")
        chunked = head.get("transfer-encoding", "").lower() == "chunked"
        buffer = b""
        while True:
            if chunked:
                piece = await conn.read_chunk()
            else:
                piece = await conn.reader.read(65536)
            if not piece:
                return
            arrival = now_ns()
            buffer += piece
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                fields = {}
                for line in frame.decode().split("\n"):
                    key, _, value = line.partition(":")
                    fields[key] = value[1:] if value.startswith(" ") else value
                if "event" not in fields:
                    continue  # retry: hint
                data = json.loads(fields["data"]) if fields.get("data") else {}
                yield (int(fields["id"]) if "id" in fields else None), fields["event"], data, arrival
    except (ConnectionClosed, ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        conn.close()


def message_body(session, text, user="bench", message_id=None):
    body = {"session": session, "user": user, "text": text}
    if message_id is not None:
        body["id"] = message_id
    return json.dumps(body).encode()


def new_id():
    return uuid.uuid4().hex


async def wait_http_ready(port, timeout=30):
    """Polls /readyz until it answers 200; returns the time it did."""
    deadline = now_ns() + int(timeout * 1e9)
    while now_ns() < deadline:
        try:
            status, _, _ = await get_json(port, "/readyz", timeout=2)
            if status == 200:
                return now_ns()
        except (OSError, ConnectionClosed, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.005)
    raise TimeoutError(f"port {port} was not ready within {timeout} s")


# ---------------------------------------------------------------- NOTIFY_SOCKET we own


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET.

    Records (arrival ns, {key: value}) for every datagram; descriptors passed with
    FDSTORE=1 are closed at once. Read it from the event loop with attach(), or block
    with wait_for() outside one."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(self.path)
        self.messages = []
        self._waiters = []

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _receive_one(self):
        data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
        arrival = now_ns()
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
                for fd in fds:
                    os.close(fd)
        fields = {}
        for line in data.decode(errors="replace").split("\n"):
            if "=" in line:
                key, _, value = line.partition("=")
                fields[key] = value
        self.messages.append((arrival, fields))
        return arrival, fields

    def attach(self, loop):
        self.sock.setblocking(False)

        def readable():
            while True:
                try:
                    arrival, fields = self._receive_one()
                except BlockingIOError:
                    return
                for waiter in list(self._waiters):
                    key, value, future = waiter
                    if fields.get(key) == value and not future.done():
                        future.set_result(arrival)
                        self._waiters.remove(waiter)

        loop.add_reader(self.sock.fileno(), readable)

    def first(self, key, value="1", since=0):
        for arrival, fields in self.messages:
            if arrival >= since and fields.get(key) == value:
                return arrival
        return None

    async def wait_async(self, key, value="1", since=0, timeout=30):
        found = self.first(key, value, since)
        if found is not None:
            return found
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((key, value, future))
        return await asyncio.wait_for(future, timeout)

    def wait_for(self, key, value="1", timeout=30):
        """Blocking: the arrival time of the first datagram with key=value."""
        found = self.first(key, value)
        if found is not None:
            return found
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            arrival, fields = self._receive_one()
            if fields.get(key) == value:
                return arrival
        raise TimeoutError(f"no {key}={value} within {timeout} s")


# ---------------------------------------------------------------- processes


def baton_env(port, state, **settings):
    """The environment of a `baton serve` for benchmarks: loopback only, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "NOTIFY_SOCKET", "LISTEN_", "WATCHDOG_"))}
    env.update(UNIT_ENVIRONMENT)
    env.update(
        {
            "BATON_LISTEN": f"{HOST}:{port}",
            "BATON_STATE_DIRECTORY": state,
            "BATON_RUNTIME_DIRECTORY": os.path.join(state, "run"),
            "BATON_LOG_LEVEL": "warning",
        }
    )
    for key, value in settings.items():
        env["BATON_" + key.upper()] = str(value)
    return env


class Process:
    """A child process whose exit is timed with a pidfd in the event loop (no GIL hop)."""

    def __init__(self, argv, env, log_path):
        self.log = open(log_path, "ab")
        self.start_ns = now_ns()
        self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.popen.pid
        self.pidfd = os.pidfd_open(self.pid)
        self.exit_ns = None
        self.returncode = None

    def watch(self, loop):
        """Completes the returned future with the exit time once the process is gone."""
        future = loop.create_future()

        def gone():
            loop.remove_reader(self.pidfd)
            self.exit_ns = now_ns()
            self.returncode = self.popen.wait()
            if not future.done():
                future.set_result(self.exit_ns)

        loop.add_reader(self.pidfd, gone)
        return future

    def signal(self, sig):
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, timeout=30):
        """Ends the process for good (SIGTERM, then SIGKILL) and reaps it."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.returncode is None:
            self.returncode = self.popen.returncode
        try:
            os.close(self.pidfd)
        except OSError:
            pass
        self.log.close()


def keep_log(path, name):
    """Copies a log worth reading (an unexpected exit) next to the results, if run by run.py."""
    folder = os.environ.get("BENCH_RESULTS")
    if not folder or not os.path.exists(path):
        return None
    os.makedirs(os.path.join(folder, "logs"), exist_ok=True)
    target = os.path.join(folder, "logs", name)
    with open(path, "rb") as source, open(target, "wb") as copy:
        copy.write(source.read())
    return target


def status_of(pid):
    """VmRSS and VmHWM of a process, in MiB."""
    result = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                number = int(value.split()[0])
                result[key] = number if key == "Threads" else round(number / 1024, 1)
    return result


def read_stat(path):
    """The name and the user + system CPU time (seconds) in a /proc `stat` file, a
    process's or a thread's."""
    with open(path) as f:
        text = f.read()
    fields = text.rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (man 5 proc).
    return text[text.index("(") + 1:text.rindex(")")], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (/proc/PID/stat), in seconds."""
    return read_stat(f"/proc/{pid}/stat")[1]


# Which kind of thread a thread's name says it is, for `cpu_seconds_by_thread`, in the
# order the benchmark table gives them.
THREAD_KINDS = (
    ("NIO-", "event_loops"),  # SwiftNIO's event loops: sockets, HTTP parsing and encoding
    ("qos", "swift_pool"),  # libdispatch's workers: Swift's cooperative pool, where tasks run
    ("baton-store", "store_thread"),  # SQLite's commits (DedicatedThreadExecutor)
)
# The kinds `cpu_seconds_by_thread` reports: those, then "other".
THREAD_KIND_NAMES = (*(kind for _, kind in THREAD_KINDS), "other")


def cpu_seconds_by_thread(pid):
    """User + system CPU time a process has used so far, by kind of thread (the names in
    THREAD_KINDS, from /proc/PID/task/*/stat), in seconds. "other" is the rest of
    the process's total, threads that have ended included: the values add up to it."""
    result = {kind: 0.0 for _, kind in THREAD_KINDS}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            name, seconds = read_stat(f"/proc/{pid}/task/{task}/stat")
        except FileNotFoundError:
            continue  # ended meanwhile: its time is in the process's total, so in "other"
        kind = next((kind for prefix, kind in THREAD_KINDS if prefix in name), None)
        if kind:
            result[kind] += seconds
    result["other"] = cpu_seconds(pid) - sum(result.values())
    return result


def cpu_us_by_thread(before, after, count):
    """What each kind of thread spent between two `cpu_seconds_by_thread` readings, in
    microseconds per one of `count` requests."""
    return {kind: round((after[kind] - before[kind]) * 1e6 / count, 1) if count else None for kind in after}


def emit(result, path=None):
    """Writes a benchmark's JSON result to `path` (or stdout)."""
    text = json.dumps(result, indent=2, sort_keys=True)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
