#!/usr/bin/env python3
"""An exec agent for Baton: Baton runs this program once per turn.

Baton writes the turn to standard input as one line of JSON:
    {"id": "...", "session": "...", "user": "...", "text": "...", "instance": "..."}
Each line written to standard output as {"text": "..."} is one reply, sent at once.
(Plain text instead of JSON would become a single reply when the program exits.)
Standard error goes to Baton's log; a non-zero exit status fails the turn.

    agent:
      kind: exec
      command: [examples/exec-agent.py]
"""
import json
import sys

turn = json.loads(sys.stdin.readline())
print(f"answering {turn['user']} in {turn['session']}", file=sys.stderr)

words = turn["text"].split()
print(json.dumps({"text": f"{turn['user']} said {len(words)} words."}), flush=True)
print(json.dumps({"text": " ".join(reversed(words))}), flush=True)
