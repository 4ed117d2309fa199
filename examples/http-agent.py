#!/usr/bin/env python3
"""An HTTP agent for Baton: POST /turn answers one turn, GET /health says it is alive.

Baton posts each turn as JSON ({"id", "session", "user", "text", "instance"}) with the
headers Baton-Instance, Baton-Session and Idempotency-Key (the message id: the same
when Baton runs an interrupted turn again). The answer is {"text": "..."}; plain text
or a text/event-stream works too.

    examples/http-agent.py --port 9000

    agent:
      kind: http
      url: http://127.0.0.1:9000/turn
      health_url: http://127.0.0.1:9000/health
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Agent(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health":
            return self.send_error(404)
        self.answer({"status": "ok"})

    def do_POST(self):
        if self.path != "/turn":
            return self.send_error(404)
        turn = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.answer({"text": f"{turn['user']}, you said: {turn['text']}"})

    def answer(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=9000)
arguments = parser.parse_args()
server = ThreadingHTTPServer((arguments.host, arguments.port), Agent)
print(f"listening on {arguments.host}:{server.server_address[1]}", flush=True)
server.serve_forever()
