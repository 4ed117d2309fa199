#!/usr/bin/env python3
"""The exec agent Baton's tests run; the message text says how it behaves.

    echo        one reply: the turn it was given, as JSON
    lines N     N replies, one JSON line each
    stream N MS N replies "part i of N", MS milliseconds apart
    plain       plain text of two lines: one reply
    long N      one reply of N characters: numbered lines of 80
    fail N      a line on standard error, then exit status N
    slow        a "working" reply (a re-run adds "re-run after N delivered"), then ten minutes of sleep
    stubborn    ignores SIGTERM, as does a child it starts; a "stubborn" reply, then sleep
    orphan      starts a child that sleeps on with its output open, replies, and exits
    graceful F  a "working" reply, then sleep; at SIGTERM says "saving state" on standard
                error, takes a second, writes the file F and exits 0
    quiet F     the same, saying nothing at SIGTERM
    noisy N     N lines of 100 bytes on standard error, then a "done" reply

Run with --pids DIR to have slow and stubborn write their process ids to DIR/<id>.pids.
`exec-test-agent.py wait-gone SECONDS PID...` exits 0 once every PID has exited, 1 if
one is still alive after SECONDS.
"""
import json
import os
import select
import signal
import subprocess
import sys
import time


def reply(text):
    print(json.dumps({"text": text}), flush=True)


def write_pids(directory, turn, pids):
    if directory:
        path = os.path.join(directory, turn["id"] + ".pids")
        with open(path + ".tmp", "w") as file:
            file.write(" ".join(str(pid) for pid in pids))
        os.rename(path + ".tmp", path)


def wait_gone(seconds, pids):
    deadline = time.monotonic() + seconds
    for pid in pids:
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        ready, _, _ = select.select([descriptor], [], [], max(0, deadline - time.monotonic()))
        if not ready:
            return 1
    return 0


def main(arguments):
    if arguments[:1] == ["wait-gone"]:
        return wait_gone(float(arguments[1]), [int(pid) for pid in arguments[2:]])
    pids = arguments[arguments.index("--pids") + 1] if "--pids" in arguments else None
    turn = json.loads(sys.stdin.readline())
    words = turn["text"].split()
    command = words[0] if words else "echo"
    if command == "lines":
        for number in range(1, int(words[1]) + 1):
            reply(f"line {number}")
    elif command == "stream":
        count, pause = int(words[1]), float(words[2]) / 1000
        for number in range(1, count + 1):
            reply(f"part {number} of {count}")
            time.sleep(pause)
    elif command == "long":
        lines = "".join(f"{number:06d} " + "x" * 72 + "\n" for number in range(int(words[1]) // 80 + 1))
        reply(lines[: int(words[1])])
    elif command == "plain":
        print("first line\nsecond line", flush=True)
    elif command == "fail":
        print(f"failing on purpose for {turn['id']}", file=sys.stderr, flush=True)
        return int(words[1])
    elif command == "slow":
        write_pids(pids, turn, [os.getpid()])
        reply("working")
        if turn.get("rerun"):
            reply(f"re-run after {turn.get('replies_delivered')} delivered")
        time.sleep(600)
    elif command == "stubborn":
        # An ignored signal stays ignored in the child: both shrug SIGTERM off.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        write_pids(pids, turn, [os.getpid(), child.pid])
        reply("stubborn")
        time.sleep(600)
    elif command in ("graceful", "quiet"):
        marker = words[1]

        def shut_down(number, frame):
            if command == "graceful":
                print("saving state", file=sys.stderr, flush=True)
            time.sleep(1)
            with open(marker, "w") as file:
                file.write("saved\n")
            sys.exit(0)

        signal.signal(signal.SIGTERM, shut_down)
        reply("working")
        time.sleep(600)
    elif command == "noisy":
        for number in range(int(words[1])):
            print(f"{number:08d} " + "n" * 91, file=sys.stderr)
        sys.stderr.flush()
        reply("done")
    elif command == "orphan":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        write_pids(pids, turn, [child.pid])
        reply("left a child")
    else:
        reply(json.dumps(turn, sort_keys=True))
    return 0


sys.exit(main(sys.argv[1:]))
