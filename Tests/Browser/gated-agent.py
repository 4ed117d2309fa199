#!/usr/bin/env python3
"""The exec agent of the browser test: answers at once, except a message that starts
with "wait", whose turn lasts until the test opens the FIFO named by the first argument
for writing and closes it. So the test decides when a long turn ends, without timing.
"""
import json
import sys

turn = json.loads(sys.stdin.readline())
if turn["text"].startswith("wait"):
    with open(sys.argv[1], "rb") as gate:
        gate.read()
print(f"Agent heard {turn['user']}: {turn['text']}")
