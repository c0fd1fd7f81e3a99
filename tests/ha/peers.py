"""The HA scenario's peers, run as processes inside network namespaces
(``ip netns exec NS python -m tests.ha.peers ...``): a backend and the load generator.

- ``backend NAME ADDRESS PORT``: an HTTP/1.1 server (keep-alive) that answers every request
  with ``NAME via PEER`` (PEER: the address the request came from, i.e. which proxy sent
  it), and sets a cookie ``sid=NAME`` so sessions can be told apart.
- ``load URL OUT --rate R --loops N --seconds S``: N client loops, each sending R requests a
  second on a keep-alive connection (a new one after any failure or a ``Connection:
  close``), for at most S seconds or until the file ``OUT.stop`` appears. Every request is
  one JSON line in OUT: start and end (``time.monotonic()``, the same clock system-wide, so
  the test can compare with the moments it acted), ok or the error, which backend and proxy
  answered, and whether the connection had served a request before (a reused keep-alive
  connection) and when it was opened. Before reusing an idle connection a loop checks
  whether the server closed it (as urllib3 does), and then opens a new one.
- ``get URL [KEY...]``: one request (or one per session key, in header ``X-Session``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REQUEST_TIMEOUT = 5.0  # a dropped SYN is retried after 1 s, 3 s: still a success then
MAX_SECONDS = 600.0  # the load never runs longer than this, whatever it was told
STOP_POLL = 0.05  # seconds between looks for the stop file


def serve_backend(name: str, address: str, port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = f"{name} via {self.client_address[0]}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", f"sid={name}; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would flood the test's pipes

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server((address, port), Handler)
    print(f"backend {name} on {address}:{port}", flush=True)
    server.serve_forever()


def dropped(sock: socket.socket) -> bool:
    """An idle keep-alive connection the server has closed (readable: its FIN, or a stray
    byte, which makes it unusable as well): what pooled clients check before reuse."""
    return bool(select.select([sock], [], [], 0)[0])


class Loop:
    """One client loop: a keep-alive connection, R requests a second."""

    def __init__(self, number: int, host: str, port: int, path: str, rate: float) -> None:
        self.number = number
        self.host = host
        self.port = port
        self.path = path
        self.interval = 1.0 / rate
        self.conn: http.client.HTTPConnection | None = None
        self.conn_opened = 0.0
        self.conn_served = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is not None and self.conn.sock is not None and dropped(self.conn.sock):
            self.close()  # the server closed it while idle: as urllib3, take a new one
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
            self.conn_opened = time.monotonic()
            self.conn_served = 0
        return self.conn

    def one(self) -> dict[str, Any]:
        conn = self._connection()
        reused = self.conn_served > 0
        record: dict[str, Any] = {
            "loop": self.number,
            "start": time.monotonic(),
            "reused": reused,
            "opened": self.conn_opened,
        }
        try:
            conn.request("GET", self.path, headers={"Host": "ha.test"})
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace").strip()
            record["status"] = resp.status
            record["ok"] = resp.status == 200
            backend, _, proxy = body.partition(" via ")
            record["backend"], record["proxy"] = backend, proxy
            self.conn_served += 1
            if resp.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            record["ok"] = False
            record["error"] = type(exc).__name__
            self.close()
        record["end"] = time.monotonic()
        return record

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_load(url: str, out: str, rate: float, loops: int, seconds: float, path: str = "/") -> None:
    host, _, port = url.partition(":")
    deadline = time.monotonic() + min(seconds, MAX_SECONDS)
    stop = threading.Event()
    lock = threading.Lock()
    with open(out, "w", encoding="utf-8") as sink:

        def worker(number: int) -> None:
            loop = Loop(number, host, int(port or 80), path, rate)
            next_at = time.monotonic()
            while not stop.is_set() and time.monotonic() < deadline:
                record = loop.one()
                with lock:
                    sink.write(json.dumps(record) + "\n")
                    sink.flush()
                next_at += loop.interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    stop.wait(pause)  # the load's pacing, not a synchronisation
                else:
                    next_at = time.monotonic()  # behind (a slow request): no burst to catch up
            loop.close()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(loops)]
        for thread in threads:
            thread.start()
        print(f"load on {url}: {loops} loops x {rate:g}/s", flush=True)
        while time.monotonic() < deadline and not os.path.exists(out + ".stop"):
            stop.wait(STOP_POLL)
        stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT * 2)


def fetch(url: str, sessions: list[str]) -> None:
    """One request, or one per session key (header ``X-Session``): prints ``KEY STATUS
    BODY`` per request (KEY ``-`` without one)."""
    host, _, port = url.partition(":")
    for key in sessions or [""]:
        conn = http.client.HTTPConnection(host, int(port or 80), timeout=REQUEST_TIMEOUT)
        headers = {"Host": "ha.test"}
        if key:
            headers["X-Session"] = key
        try:
            conn.request("GET", "/", headers=headers)
            resp = conn.getresponse()
            print(key or "-", resp.status, resp.read().decode(errors="replace").strip())
        except (OSError, http.client.HTTPException) as exc:
            print(key or "-", "error", type(exc).__name__)
        finally:
            conn.close()
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.ha.peers")
    sub = parser.add_subparsers(dest="what", required=True)
    backend = sub.add_parser("backend")
    backend.add_argument("name")
    backend.add_argument("address")
    backend.add_argument("port", type=int)
    load = sub.add_parser("load")
    load.add_argument("url")
    load.add_argument("out")
    load.add_argument("--rate", type=float, default=20.0)
    load.add_argument("--loops", type=int, default=2)
    load.add_argument("--seconds", type=float, default=60.0)
    get = sub.add_parser("get")
    get.add_argument("url")
    get.add_argument("sessions", nargs="*", help="session keys (header X-Session)")
    args = parser.parse_args(argv)
    if args.what == "backend":
        serve_backend(args.name, args.address, args.port)
    elif args.what == "load":
        run_load(args.url, args.out, args.rate, args.loops, args.seconds)
    else:
        fetch(args.url, args.sessions)
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(REQUEST_TIMEOUT)
    sys.exit(main())
