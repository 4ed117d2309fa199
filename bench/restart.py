#!/usr/bin/env python3
"""Restart under load, under a real systemd user manager.

Needs root: it re-runs itself under `unshare --mount`, mounts a tmpfs on /run in that
private mount namespace and starts `/lib/systemd/systemd --user` there (see
/work/shared/SYSTEMD.md), with every XDG folder inside a scratch folder. It installs
units/baton.service unchanged plus a drop-in that points ExecStart at the release binary
and BATON_CONFIG at a bench configuration (demo agent with --delay, --clients x
--sessions-per-client sessions, loopback port) and lifts the sandbox settings such a user
manager cannot apply (USER_MANAGER_LIMITS, as the tests' drop-in), and starts the unit.

Each cycle (--cycles; the table reports medians over cycles):
  1. --clients clients post continuously, each over one keep-alive connection, round-robin
     over its own sessions, at most --rate messages/s each; every message carries an
     idempotency `id`. Every session has an event stream open that resumes with
     Last-Event-ID whenever it ends (the goodbye of a restart).
  2. After --before seconds: `systemctl --user reload-or-restart baton` (SIGUSR1: drain,
     exit 75, systemd starts the next process, which takes the socket from the fd store).
  3. The load runs on --after seconds past the new process's READY, then stops; the
     benchmark waits (up to 60 s) for a reply to every acknowledged message and then
     replays every session's stream from event 0 to check it against the store.

Then --idle-cycles restarts with no load at all give the same timings for comparison.

Reported per cycle:
  refused      connects refused (ECONNREFUSED)
  dropped      requests sent whose connection was closed or reset before the response;
               the client reconnects and sends the same `id` again (counted, as a client
               sees them). A kept-alive connection the server closed while it was idle is
               replaced before sending, as HTTP clients do: counted apart, as idle_closed
  non-202      answers other than 202 (429, 503, 5xx)
  unanswered   acknowledged (202) messages with no reply, after the wait and the replay
  duplicates   messages with more than one reply; out_of_order: replies in a session
               not in acceptance order
  slowest POST the longest POST (first byte sent to 202, including reconnects) among
               those in flight between the reload and the new process answering /readyz
  reload fails `systemctl --user reload-or-restart` exiting non-zero (the restart goes on;
               its message is kept)
  goodbye->exit the first `goodbye` event (the drain is over: last turn ended) to the old
               process's exit: how long the old process holds on after its work is done
  exit->READY  the old MainPID's exit (a pidfd polled by a separate small process) to
               systemd's ActiveEnterTimestampMonotonic (the new READY=1 as systemd
               processed it); also exit->ExecMainStartTimestampMonotonic (fork of the
               new process) and exit->first 200 from /readyz of the new instance
"""

import argparse
import asyncio
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import common

PIDWAIT = r"""
import os, select, sys, time
fd = os.pidfd_open(int(sys.argv[1]))
print("watching", flush=True)
p = select.poll(); p.register(fd, select.POLLIN); p.poll()
print(time.monotonic_ns(), flush=True)
"""

SHOW = [
    "MainPID", "NRestarts", "ActiveState", "SubState", "Result", "StatusText", "NFileDescriptorStore",
    "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic", "ActiveExitTimestampMonotonic",
]


CGROUP_ROOTS = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"]


class Manager:
    """A systemd user manager in this (private) mount namespace, in a control group of its
    own: managers sharing a group (tests or benchmarks running beside this one) would all
    put baton.service in the same app.slice/baton.service, and stopping or killing one
    would wait for, or kill, the others' processes."""

    def __init__(self, folder):
        self.folder = folder
        self.env = dict(os.environ)
        for key in list(self.env):
            if key.startswith(("NOTIFY_SOCKET", "LISTEN_", "BATON_", "DBUS_")):
                del self.env[key]
        self.env.update(
            XDG_RUNTIME_DIR="/run/user/0",
            XDG_CONFIG_HOME=os.path.join(folder, "config"),
            XDG_STATE_HOME=os.path.join(folder, "xdg-state"),
            XDG_DATA_HOME=os.path.join(folder, "xdg-data"),
            XDG_CACHE_HOME=os.path.join(folder, "xdg-cache"),
        )
        self.process = None
        # The unified hierarchy and systemd's legacy one on a hybrid host (as the tests do).
        name = "baton-bench-" + os.path.basename(folder)
        self.cgroups = [
            os.path.join(root, name) for root in CGROUP_ROOTS if os.path.exists(os.path.join(root, "cgroup.procs"))
        ][:2]

    def start(self):
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
        os.makedirs("/run/systemd/system")
        os.makedirs("/run/user/0", mode=0o700)
        log = open(os.path.join(self.folder, "manager.log"), "ab")
        join = "".join(f"mkdir -p {group} && echo $$ > {group}/cgroup.procs && " for group in self.cgroups)
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", join + "exec /lib/systemd/systemd --user"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = self.systemctl("is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the user manager did not come up (state {state!r})")

    def systemctl(self, *args, check=True):
        result = subprocess.run(
            ["systemctl", "--user", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            state = subprocess.run(
                ["systemctl", "--user", "status", "--no-pager", "baton.service"], env=self.env, capture_output=True, text=True
            ).stdout
            raise RuntimeError(
                f"systemctl --user {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}\n{state}"
            )
        return result

    def show(self):
        out = self.systemctl("show", "baton.service", "-p", ",".join(SHOW)).stdout
        values = dict(line.split("=", 1) for line in out.strip().splitlines() if "=" in line)
        for key in values:
            if key.endswith("Monotonic") or key in ("MainPID", "NRestarts", "NFileDescriptorStore"):
                values[key] = int(values[key] or 0)
        return values

    def stop(self):
        if self.process is None:
            return
        main_pid = 0
        try:
            main_pid = self.show().get("MainPID", 0)
            self.systemctl("stop", "baton.service", check=False)
        except Exception:
            pass
        self.process.send_signal(signal.SIGTERM)  # a user manager exits on SIGTERM
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if main_pid:
            try:
                os.kill(main_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.remove_cgroups()

    def remove_cgroups(self):
        """Kills whatever is left in the manager's control groups and removes them, deepest first."""
        for _ in range(100):
            groups = []
            for root in self.cgroups:
                for path, _, files in os.walk(root):
                    if "cgroup.procs" in files:
                        groups.append(path)
            if not groups:
                return
            for group in groups:
                try:
                    with open(os.path.join(group, "cgroup.procs")) as f:
                        for pid in f.read().split():
                            try:
                                os.kill(int(pid), signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                except OSError:
                    pass
            for group in sorted(groups, key=len, reverse=True):
                try:
                    os.rmdir(group)
                except OSError:
                    pass
            time.sleep(0.02)


# The hardened unit's sandboxing that a root user manager in a private mount namespace
# cannot set up (no dynamic users, no nested mount namespaces for these, no cgroup BPF for
# the IP filter): the same settings the tests' drop-in lifts
# (Tests/BatonTestSupport/SystemdUserManager+Baton.swift). Everything else of
# units/baton.service stays in force.
USER_MANAGER_LIMITS = [
    "DynamicUser=no",
    "PrivateUsers=no",
    "CapabilityBoundingSet=~",
    "ProtectHome=no",
    "PrivateTmp=no",
    "ProtectKernelTunables=no",
    "ProtectKernelLogs=no",
    "IPAddressDeny=",
]


# With --lift-sandbox, the rest of the unit's sandbox is lifted too: what the sandbox costs
# a restart, measured against the unit as shipped. A diagnosis, never the table's figure.
SANDBOX = [
    "ProtectSystem=no", "PrivateDevices=no", "ProtectHostname=no", "ProtectClock=no", "ProtectKernelModules=no",
    "ProtectControlGroups=no", "ProtectProc=default", "RestrictNamespaces=no", "MemoryDenyWriteExecute=no",
    "SystemCallFilter=", "SystemCallArchitectures=", "RestrictAddressFamilies=", "LockPersonality=no",
    "RestrictRealtime=no", "RestrictSUIDSGID=no", "RemoveIPC=no", "IPAddressAllow=", "NoNewPrivileges=no",
]


def install_unit(manager, port, delay, sessions, log_level="notice", lift_sandbox=False):
    """Installs units/baton.service unchanged plus a drop-in: ExecStart at the binary under
    test, a bench configuration (demo agent with `delay`, room for `sessions` turns at
    once), the log in the scratch folder, and USER_MANAGER_LIMITS (and SANDBOX when
    `lift_sandbox`). Then daemon-reload."""
    folder = manager.folder
    unit_dir = os.path.join(folder, "config", "systemd", "user")
    os.makedirs(os.path.join(unit_dir, "baton.service.d"), exist_ok=True)
    shutil.copy(os.path.join(common.REPO, "units", "baton.service"), os.path.join(unit_dir, "baton.service"))
    config = os.path.join(folder, "baton.yaml")
    with open(config, "w") as f:
        f.write(
            f"listen: {common.HOST}:{port}\n"
            "admins: [bench]\n"
            "busy_input: queue\n"
            "drain:\n  timeout: 60\n"
            f"agent:\n  kind: demo\n  delay: {delay}\n  max_concurrent_turns: {max(64, sessions)}\n"
            "limits:\n  max_queue_per_session: 100000\n"
        )
    log = os.path.join(folder, "baton.log")
    with open(os.path.join(unit_dir, "baton.service.d", "bench.conf"), "w") as f:
        f.write(
            "[Service]\n"
            "ExecStart=\n"
            f"ExecStart={common.BATON} serve\n"
            f"Environment=BATON_CONFIG={config} BATON_LOG_LEVEL={log_level}\n"
            f"StandardOutput=append:{log}\n"
            f"StandardError=append:{log}\n"
            + "".join(line + "\n" for line in USER_MANAGER_LIMITS + (SANDBOX if lift_sandbox else []))
        )
    manager.systemctl("daemon-reload")
    return log


class Load:
    """The posting clients and the event-stream followers of one cycle."""

    def __init__(self, port, args, cycle):
        self.port, self.args = port, args
        self.sessions = [
            [f"c{cycle}-{client}-{k}" for k in range(args.sessions_per_client)] for client in range(args.clients)
        ]
        self.posting = True
        self.posts = []  # (first send ns, 202 ns or None, session, id)
        self.acked = {}  # id -> session
        self.order = {}  # session -> [ids in acceptance order]
        self.counts = {"refused": 0, "dropped": 0, "non_202": 0, "statuses": {}}
        self.drops = []  # (request sent ns, connection closed ns, how)
        self.replies = {}  # id -> [arrival ns]
        self.reply_order = {}  # session -> [in_reply_to as they came]
        self.notices = {}
        self.goodbyes = 0
        self.first_goodbye_ns = None
        self.idle_closed = 0
        self.reconnects = 0
        self.all_replied = asyncio.Event()

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
                started, acked = common.now_ns(), None
                while acked is None:
                    attempt = common.now_ns()
                    try:
                        status, _, _ = await conn.request("POST", "/v1/messages", body)
                    except ConnectionRefusedError:
                        self.counts["refused"] += 1
                        conn.close()
                        await asyncio.sleep(0.01)
                        continue
                    except (common.ConnectionClosed, ConnectionError, asyncio.IncompleteReadError) as error:
                        self.counts["dropped"] += 1
                        self.drops.append((attempt, common.now_ns(), type(error).__name__))
                        conn.close()
                        continue
                    if status == 202:
                        acked = common.now_ns()
                    else:
                        self.counts["non_202"] += 1
                        key = str(status)
                        self.counts["statuses"][key] = self.counts["statuses"].get(key, 0) + 1
                        await asyncio.sleep(0.05)
                        if not self.posting:
                            break
                self.posts.append((started, acked, session, message_id))
                if acked is not None:
                    self.acked[message_id] = session
                    self.order.setdefault(session, []).append(message_id)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    next_at = time.monotonic()
        finally:
            self.idle_closed += conn.stale_reconnects
            conn.close()

    def record(self, name, data, arrival):
        if name == "reply":
            message = data.get("in_reply_to")
            self.replies.setdefault(message, []).append(arrival)
            session = self.acked.get(message)
            if session:
                self.reply_order.setdefault(session, []).append(message)
            if not self.posting and all(m in self.replies for m in self.acked):
                self.all_replied.set()
        elif name == "notice":
            kind = data.get("kind", "?")
            self.notices[kind] = self.notices.get(kind, 0) + 1
        elif name == "goodbye":
            self.goodbyes += 1
            if self.first_goodbye_ns is None:
                self.first_goodbye_ns = arrival

    async def follow(self, session):
        last = 0
        while True:
            async for event_id, name, data, arrival in common.sse_events(self.port, session, after=last):
                if event_id is not None:
                    last = event_id
                self.record(name, data, arrival)
            self.reconnects += 1
            await asyncio.sleep(0.005)


async def replay(port, session, idle=0.5):
    """Every reply in the session's stream from event 0 (from the store), as in_reply_to ids."""
    found = []
    stream = common.sse_events(port, session).__aiter__()
    try:
        while True:
            try:
                _, name, data, _ = await asyncio.wait_for(stream.__anext__(), idle)
            except (asyncio.TimeoutError, StopAsyncIteration):
                return found
            if name == "reply":
                found.append(data.get("in_reply_to"))
    finally:
        await stream.aclose()


async def watch_main_pid(manager):
    """(systemctl show before, a process that prints the MainPID's exit time) once the unit
    is active with a live MainPID."""
    for _ in range(50):
        before = manager.show()
        if before["ActiveState"] == "active" and before["MainPID"] > 0:
            watcher = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PIDWAIT, str(before["MainPID"]),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
            if (await watcher.stdout.readline()).strip() == b"watching":
                return before, watcher
            await watcher.wait()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"baton.service has no live MainPID: {manager.show()}")


async def readiness_probe(port, old_instance, since_ns):
    """Polls /readyz on fresh connections until the new instance answers 200."""
    while True:
        try:
            status, head, _ = await common.get_json(port, "/readyz", timeout=5)
            if status == 200 and head.get("baton-instance") not in (None, old_instance):
                return common.now_ns(), head.get("baton-instance")
        except (OSError, common.ConnectionClosed, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.002)


async def cycle(manager, port, args, index):
    at_start = manager.show()  # restarts are counted from here: one per cycle, no more
    _, head, _ = await common.get_json(port, "/readyz")
    old_instance = head.get("baton-instance")
    load = Load(port, args, index)
    followers = [asyncio.create_task(load.follow(s)) for group in load.sessions for s in group]
    await asyncio.sleep(0.3)  # streams subscribed
    clients = [asyncio.create_task(load.client(group)) for group in load.sessions]
    await asyncio.sleep(args.before)

    before, watcher = await watch_main_pid(manager)
    old_pid = before["MainPID"]
    reload_ns = common.now_ns()
    reload = await asyncio.to_thread(manager.systemctl, "reload-or-restart", "baton.service", check=False)
    reload_done_ns = common.now_ns()
    exit_ns = int((await asyncio.wait_for(watcher.stdout.readline(), 120)).strip())
    await watcher.wait()
    ready_ns, new_instance = await asyncio.wait_for(readiness_probe(port, old_instance, exit_ns), 60)
    await asyncio.sleep(args.after)
    load.posting = False
    await asyncio.gather(*clients)
    if all(m in load.replies for m in load.acked):
        load.all_replied.set()
    try:
        await asyncio.wait_for(load.all_replied.wait(), 60)
    except asyncio.TimeoutError:
        pass
    for task in followers:
        task.cancel()
    await asyncio.gather(*followers, return_exceptions=True)

    after = manager.show()
    # Check what the store says, not only what the live streams saw.
    stored = {}
    sessions = [s for group in load.sessions for s in group]
    for start in range(0, len(sessions), 32):
        chunk = sessions[start:start + 32]
        for session, replies in zip(chunk, await asyncio.gather(*(replay(port, s) for s in chunk))):
            stored[session] = replies
    stored_replies = {}
    for replies in stored.values():
        for message in replies:
            stored_replies[message] = stored_replies.get(message, 0) + 1

    unanswered_live = [m for m in load.acked if m not in load.replies]
    unanswered_stored = [m for m in load.acked if m not in stored_replies]
    duplicates = sum(1 for m in load.acked if stored_replies.get(m, 0) > 1 or len(load.replies.get(m, [])) > 1)
    out_of_order = sum(
        1 for session, ids in load.order.items() if [m for m in stored.get(session, []) if m in load.acked] != ids
    )
    window = [
        (acked or common.now_ns()) - started
        for started, acked, _, _ in load.posts
        if started <= ready_ns and (acked is None or acked >= reload_ns)
    ]
    latencies = [(acked - started) / 1e6 for started, acked, _, _ in load.posts if acked]
    restart_start = after["ExecMainStartTimestampMonotonic"] * 1000
    active_enter = after["ActiveEnterTimestampMonotonic"] * 1000
    return {
        "posts": len(load.posts),
        "acknowledged": len(load.acked),
        "refused": load.counts["refused"],
        "dropped": load.counts["dropped"],
        "idle_closed": load.idle_closed,
        "non_202": load.counts["non_202"],
        "statuses": load.counts["statuses"],
        "unanswered": len(unanswered_stored),
        "unanswered_live": len(unanswered_live),
        "duplicates": duplicates,
        "out_of_order_sessions": out_of_order,
        "post_p50_ms": round(common.percentile(latencies, 50), 3),
        "post_p99_ms": round(common.percentile(latencies, 99), 3),
        "slowest_post_in_restart_ms": common.ms(max(window)) if window else None,
        "posts_in_restart_window": len(window),
        "reload_command_ms": common.ms(reload_done_ns - reload_ns),
        "reload_status": reload.returncode,
        "reload_error": reload.stderr.strip(),
        "signal_to_exit_ms": common.ms(exit_ns - reload_ns),
        "signal_to_goodbye_ms": common.ms(load.first_goodbye_ns - reload_ns) if load.first_goodbye_ns else None,
        "goodbye_to_exit_ms": common.ms(exit_ns - load.first_goodbye_ns) if load.first_goodbye_ns else None,
        "exit_to_exec_ms": common.ms(restart_start - exit_ns),
        "exit_to_ready_ms": common.ms(active_enter - exit_ns),
        "exec_to_ready_ms": common.ms(active_enter - restart_start),
        "exit_to_readyz_ms": common.ms(ready_ns - exit_ns),
        "main_pid_changed": after["MainPID"] != old_pid,
        "restarts": after["NRestarts"] - at_start["NRestarts"],
        "fd_store": after["NFileDescriptorStore"],
        "active_state": f'{after["ActiveState"]}/{after["SubState"]}',
        "new_instance": new_instance,
        "drops_ms_after_goodbye": [
            [common.ms(sent - load.first_goodbye_ns), common.ms(closed - load.first_goodbye_ns), how]
            for sent, closed, how in load.drops
        ] if load.first_goodbye_ns else [],
        "notices": load.notices,
        "goodbyes": load.goodbyes,
        "stream_reconnects": load.reconnects,
    }


async def idle_cycle(manager, port):
    """A restart with no load at all: the same timings, for comparison."""
    _, head, _ = await common.get_json(port, "/readyz")
    before, watcher = await watch_main_pid(manager)
    reload_ns = common.now_ns()
    reload = await asyncio.to_thread(manager.systemctl, "reload-or-restart", "baton.service", check=False)
    reload_done_ns = common.now_ns()
    exit_ns = int((await asyncio.wait_for(watcher.stdout.readline(), 120)).strip())
    await watcher.wait()
    ready_ns, _ = await asyncio.wait_for(readiness_probe(port, head.get("baton-instance"), exit_ns), 60)
    after = manager.show()
    start = after["ExecMainStartTimestampMonotonic"] * 1000
    active = after["ActiveEnterTimestampMonotonic"] * 1000
    return {
        "signal_to_exit_ms": common.ms(exit_ns - reload_ns),
        "exit_to_exec_ms": common.ms(start - exit_ns),
        "exec_to_ready_ms": common.ms(active - start),
        "exit_to_ready_ms": common.ms(active - exit_ns),
        "exit_to_readyz_ms": common.ms(ready_ns - exit_ns),
        "restarted": after["NRestarts"] - before["NRestarts"] == 1 and after["MainPID"] != before["MainPID"],
        "reload_command_ms": common.ms(reload_done_ns - reload_ns),
        "reload_status": reload.returncode,
        "reload_error": reload.stderr.strip(),
    }


async def inside(args):
    folder = common.state_root()
    manager = Manager(folder)
    cycles = []
    try:
        manager.start()
        port = common.free_port()
        install_unit(manager, port, args.delay, args.clients * args.sessions_per_client, lift_sandbox=args.lift_sandbox)
        manager.systemctl("start", "baton.service")
        await common.wait_http_ready(port)
        for index in range(args.cycles):
            cycles.append(await cycle(manager, port, args, index))
            await asyncio.sleep(0.5)
        idle = []
        for _ in range(args.idle_cycles):
            idle.append(await idle_cycle(manager, port))
            await asyncio.sleep(0.3)
        final = manager.show()
    finally:
        manager.stop()
        common.keep_log(os.path.join(folder, "baton.log"), "restart-baton.log")
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    numeric = [
        k for k, v in cycles[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "reload_status"
    ]
    summary = {key: common.median([c[key] for c in cycles]) for key in numeric}
    for key in ("refused", "dropped", "idle_closed", "non_202", "unanswered", "unanswered_live", "duplicates", "out_of_order_sessions"):
        summary[key + "_total"] = sum(c[key] for c in cycles)
    summary["slowest_post_in_restart_max_ms"] = max(c["slowest_post_in_restart_ms"] or 0 for c in cycles)
    summary["exit_to_ready_max_ms"] = max(c["exit_to_ready_ms"] for c in cycles)
    summary["extra_restarts"] = sum(c["restarts"] - 1 for c in cycles)
    summary["all_restarted"] = all(c["main_pid_changed"] and c["restarts"] == 1 for c in cycles) and all(
        c["restarted"] for c in idle
    )
    idle_summary = {
        key: common.median([c[key] for c in idle])
        for key in (idle[0] if idle else {})
        if key not in ("restarted", "reload_status", "reload_error")
    }
    every = cycles + idle
    summary["reload_command_all_median_ms"] = common.median([c["reload_command_ms"] for c in every])
    summary["reload_command_max_ms"] = max(c["reload_command_ms"] for c in every)
    summary["reload_command_slow"] = sum(1 for c in every if c["reload_command_ms"] > 200)
    summary["reload_failures"] = sum(1 for c in every if c["reload_status"] != 0)
    summary["reloads"] = len(every)
    summary["reload_errors"] = sorted({c["reload_error"] for c in every if c["reload_status"] != 0})
    return {
        "benchmark": "restart",
        "cycles": len(cycles),
        "clients": args.clients,
        "sessions": args.clients * args.sessions_per_client,
        "rate_per_client": args.rate,
        "delay_s": args.delay,
        "sandbox_lifted": args.lift_sandbox,
        "final_unit": {k: final[k] for k in ("ActiveState", "SubState", "NRestarts", "StatusText")},
        "median": summary,
        "idle_cycles": len(idle),
        "idle": idle_summary,
        "all": cycles,
        "all_idle": idle,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--sessions-per-client", type=int, default=8)
    parser.add_argument("--rate", type=float, default=25, help="messages/s per client at most")
    parser.add_argument("--delay", type=float, default=0.2, help="demo agent turn time (s)")
    parser.add_argument("--idle-cycles", type=int, default=5, help="restarts with no load, after the loaded ones")
    parser.add_argument("--before", type=float, default=2, help="seconds of load before the reload")
    parser.add_argument("--after", type=float, default=2, help="seconds of load after the new READY")
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--lift-sandbox", action="store_true", help="lift the unit's whole sandbox: what it costs a restart")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inside:
        if os.geteuid() != 0:
            sys.exit("restart.py needs root (a private mount namespace for the user manager)")
        argv = ["unshare", "--mount", "--propagation", "private", sys.executable, os.path.abspath(__file__), "--inside"]
        os.execvp("unshare", argv + sys.argv[1:])
    common.emit(asyncio.run(inside(args)), args.json)
