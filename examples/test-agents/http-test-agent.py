#!/usr/bin/env python3
"""The HTTP agent Baton's tests run; the message text says how it answers a turn.

    echo    JSON: {"text": <the turn and Baton's headers, as JSON>}
    plain   text/plain
    sse     text/event-stream of three events that make "Hello, world"
    empty   204, no reply
    fail    HTTP 500
    slow    never answers (until the connection or the process goes)
    drop    closes the connection without an answer
    moved   301 to a page that answers GET

GET /health answers as POST /control {"health": "ok" | "fail" | "hang" | "big"} last said
("big": 200 with a 140 KB page).
Prints "listening on HOST:PORT" once it accepts connections, "turn started ID" when a
turn arrives, and "health probed" at each GET /health.
"""
import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

health = {"mode": "ok"}
lock = threading.Lock()


def say(line):
    with lock:
        print(line, flush=True)


class Agent(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.path == "/moved-here":
            return self.answer(200, "text/plain", "a page for GET, not a reply")
        if self.path == "/health-moved":
            self.send_response(301)
            self.send_header("Location", "/health")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path != "/health":
            return self.send_error(404)
        say("health probed")
        mode = health["mode"]
        if mode == "hang":
            time.sleep(600)
        if mode == "big":
            return self.answer(200, "text/html", "<p>healthy</p>" * 10_000)
        self.answer(200 if mode == "ok" else 503, "application/json", json.dumps({"health": mode}))

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/control":
            health["mode"] = body["health"]
            return self.answer(200, "application/json", "{}")
        if self.path != "/turn":
            return self.send_error(404)
        say(f"turn started {body['id']}")
        command = body["text"].split()[0]
        if command == "plain":
            self.answer(200, "text/plain; charset=utf-8", "plain reply\n")
        elif command == "sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for chunk in [': a comment\n\n', 'data: {"text": "Hello, "}\n\n', "id: 2\ndata: wor\n\n", 'event: message\ndata: {"text": "ld"}\n\n']:
                self.wfile.write(chunk.encode())
                self.wfile.flush()
        elif command == "empty":
            self.send_response(204)
            self.end_headers()
        elif command == "fail":
            self.answer(500, "text/plain", "failing on purpose\n")
        elif command == "slow":
            time.sleep(600)
        elif command == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif command == "moved":
            self.send_response(301)
            self.send_header("Location", "/moved-here")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            names = ["Baton-Instance", "Baton-Session", "Idempotency-Key", "Content-Type"]
            echo = {"turn": body, "headers": {name: self.headers[name] for name in names}}
            self.answer(200, "application/json", json.dumps({"text": json.dumps(echo, sort_keys=True)}))

    def answer(self, status, content_type, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
arguments = parser.parse_args()
server = ThreadingHTTPServer(("127.0.0.1", arguments.port), Agent)
say(f"listening on 127.0.0.1:{server.server_address[1]}")
server.serve_forever()
