#!/usr/bin/env python3
"""Tiny dependency-free demo upstream for Palisade.

Routes (every answer is JSON with a Content-Length, HTTP/1.1 keep-alive):
  GET|HEAD /health   -> 200 {"status": "ok"}  (other methods: 405)
  ANY /api/...       -> 200 {"method", "path", "headers", "body_bytes"}
                        path is the request target as received (with query);
                        headers is a dict of the received headers, names
                        lower-cased, repeated headers joined with ", ";
                        body_bytes counts the request body (Content-Length
                        or chunked), which is read and discarded.
  anything else      -> 404 {"error": "not found", "path": ...}

Environment:
  PORT   port to listen on (default 3000)
  HOST   address to bind (default 0.0.0.0; use 127.0.0.1 when Palisade runs
         as a sidecar in the same network namespace, so the app is reachable
         only through the proxy)
  QUIET  if set to a non-empty value, no per-request log lines on stderr

SIGTERM and SIGINT stop the server and exit 0.
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_CHUNK_LINE = 4096
READ_BLOCK = 64 * 1024


class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "palisade-demo-app/1.0"
    # Idle keep-alive connections are closed after this many seconds. Keep it
    # longer than the proxy's idle timeout so the proxy, not the app, closes
    # idle pooled connections (avoids reusing a connection the app just shut).
    timeout = 120

    # ---- dispatch -----------------------------------------------------
    def _route(self):
        path = self.path.split("?", 1)[0]
        try:
            body_bytes = self._drain_body()
        except BadRequest as exc:
            # The rest of the body is unknown: answer and drop the connection.
            self.close_connection = True
            self._json(400, {"error": "bad request", "detail": str(exc)})
            return
        if path == "/health":
            if self.command in ("GET", "HEAD"):
                self._json(200, {"status": "ok"})
            else:
                self._json(405, {"error": "method not allowed"},
                           extra={"Allow": "GET, HEAD"})
        elif path.startswith("/api/"):
            headers = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            self._json(200, {
                "method": self.command,
                "path": self.path,
                "headers": headers,
                "body_bytes": body_bytes,
            })
        else:
            self._json(404, {"error": "not found", "path": self.path})

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _route

    # ---- body handling ------------------------------------------------
    def _drain_body(self):
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise BadRequest(f"unsupported transfer-encoding: {te}")
            return self._drain_chunked()
        cl = self.headers.get("Content-Length")
        if cl is None:
            return 0
        if not cl.strip().isdigit():
            raise BadRequest("invalid content-length")
        return self._discard(int(cl))

    def _discard(self, n):
        left = n
        while left > 0:
            block = self.rfile.read(min(left, READ_BLOCK))
            if not block:
                raise BadRequest("body shorter than content-length")
            left -= len(block)
        return n

    def _drain_chunked(self):
        total = 0
        while True:
            line = self.rfile.readline(MAX_CHUNK_LINE)
            if not line.endswith(b"\n"):
                raise BadRequest("bad chunk size line")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if size == 0:
                break
            total += self._discard(size)
            if self.rfile.readline(MAX_CHUNK_LINE).strip():
                raise BadRequest("missing CRLF after chunk")
        # Trailer section ends with an empty line.
        while True:
            line = self.rfile.readline(MAX_CHUNK_LINE)
            if not line or not line.strip():
                break
        return total

    # ---- responses ----------------------------------------------------
    def _json(self, status, obj, extra=None):
        body = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if not os.environ.get("QUIET"):
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))


def main():
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "3000"))
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((host, port), Handler)

    def stop(signum, _frame):
        # shutdown() blocks until serve_forever() returns, so call it from
        # another thread than the one running serve_forever().
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"demo app listening on {host}:{port}", file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()
    print("demo app stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
