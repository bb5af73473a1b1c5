#!/usr/bin/env python3
"""Replays a recorded streaming chat completion, for examples/openai_stream without a network.

Serves POST /v1/chat/completions on 127.0.0.1 from a fixture (JSON):
  {"status": 200, "headers": {"Content-Type": "text/event-stream"},
   "writes": [{"data": "data: {...}\\n\\n", "delay_ms": 0}, ...],
   "close_early": false}
Each write goes out as one HTTP chunk (Transfer-Encoding: chunked), flushed, after its delay,
so a write that ends in the middle of a line reaches the client as a read that does too.
"close_early": true closes the connection after the writes without the terminating chunk (a
stream cut short); "hold_open_ms": N waits N ms after the writes before ending the response (a
server or proxy that keeps the stream open after data: [DONE]). Every request gets the same
response.

Binds port 0 unless --port is given and prints "listening on 127.0.0.1:PORT" once ready.
--request-log FILE appends each request's JSON body to FILE, one line each.

  replay_server.py FIXTURE [--port N] [--request-log FILE]
"""

import argparse
import http.server
import json
import socket
import sys
import time


def make_handler(fixture, request_log):
    class ReplayHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if request_log:
                with open(request_log, "ab") as log:
                    log.write(body.replace(b"\n", b" ") + b"\n")
            if self.path != "/v1/chat/completions":
                self.send_error(404, "only /v1/chat/completions is replayed")
                return
            self.send_response(fixture.get("status", 200))
            for name, value in fixture.get("headers", {}).items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            for write in fixture["writes"]:
                time.sleep(write.get("delay_ms", 0) / 1000.0)
                data = write["data"].encode("utf-8")
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            time.sleep(fixture.get("hold_open_ms", 0) / 1000.0)
            if fixture.get("close_early", False):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, format, *args):  # quiet: the test reads stdout for the port
            pass

    return ReplayHandler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixture")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--request-log")
    args = parser.parse_args()
    with open(args.fixture, encoding="utf-8") as f:
        fixture = json.load(f)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", args.port), make_handler(fixture, args.request_log))
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
