#!/usr/bin/env python3
"""Per-request Python cost of the proxy shell, without syscalls.

    python bench/shell_cost.py [--requests N] [--rounds R] [--profile] [--opcodes] [--log FILE]
                               [--seed] [--chunked] [--stale] [--session] [--pure]

One keep-alive client connection and one pooled backend connection, both on fake
transports (nothing is sent anywhere), carry N small GET requests and their 200 responses
(Content-Length, the whole response in one read) through the real code: ClientProtocol ->
its fast lane (server/lane.py, or the Exchange with STANDBY_LANE=0) -> UpstreamProtocol ->
Pool, with routing, balancing, health, counters and the http1 head parsing and rewriting.
It prints the best of R timed runs in microseconds per request: the Python work a request
costs on top of the event loop's syscalls, which is what separates standby from a bare
byte relay. ``--profile`` prints a cProfile of one more
run and the Python function calls per request; ``--opcodes`` the bytecode instructions a
request executes, by function (a count the machine's load does not change); ``--log FILE``
turns on the ``LogLevel 1`` access log, written to FILE as with ``-e`` and stderr
redirected to a file; ``--seed`` routes as the seed configuration does (a ``HeadRequire``
on the Host line, which looks at every header line) a browser's request (14 header lines)
instead of wrk's (3); ``--chunked`` has the backend answer chunked, as dynamic pages
usually come (the same page, whole in one read). ``--stale`` gives the service a
``StaleFallback`` section (a replica as in a worker: no directory): the page is storable,
so a request is captured whenever the copy is older than the store's refresh interval.
``--edits`` adds the bench's ``seed-edits`` lines (two ``AddHeader``, two ``HeadRemove``)
to the listener. ``--session`` gives the service a cookie ``Session`` on the cookie the
browser's request carries. ``--pure`` runs the hot path interpreted
(``STANDBY_PURE=1``; see src/standby/compiled.py), as ``--profile`` and ``--opcodes`` must.

The listening socket is bound on loopback and never accepts; the proxy is stopped cleanly
at the end (both fake connections closed, every task finished).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO

import uvloop

from standby import compiled
from standby.config import load_config_text
from standby.observe.access import AccessLog
from standby.observe.logsetup import StderrAccessWriter
from standby.server.client import ClientProtocol
from standby.server.proxy import Proxy
from standby.upstream.protocol import UpstreamProtocol
from standby_bench.configs import SEED_EDITS

DEFAULT_REQUESTS = 20_000  # per run: long enough to dwarf timer resolution, short on 2 cores
DEFAULT_ROUNDS = 7  # the minimum of several runs filters out a noisy shared machine
WARMUP_REQUESTS = 1_000  # fill caches and the pool's bookkeeping before timing
PROFILE_ROWS = 30  # profile entries printed, by own time
OPCODE_ROWS = 40  # functions listed by --opcodes
OPCODE_REQUESTS = 100  # traced requests: the count per request is the same for each
PEER = ("127.0.0.1", 50_000)  # the fake client's address, as the access log shows it
# The backend is never contacted: the exchange always finds the fake pooled connection.
# A loopback port that refuses, in case a bug ever made it connect.
BACKEND_PORT = 9

CONFIG = """
Daemon 0
LogLevel {log_level}
ListenHTTP
  Address 127.0.0.1
  Port 8080
{listener_extra}  Service
{service_extra}    BackEnd
      Address 127.0.0.1
      Port {backend_port}
    End
  End
End
"""
STALE_SERVICE = "    StaleFallback\n    End\n"
# Issue 15: a cookie Session on the cookie a browser's request carries (``--session``).
SESSION_SERVICE = (
    '    Session\n      Type COOKIE\n      ID "wordpress_test_cookie"\n      TTL 300\n    End\n'
)
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n\r\n"
# The seed's service condition, and what a browser sends (the lines HeadRequire looks at).
SEED_SERVICE = '    HeadRequire "Host: 127\\.0\\.0\\.1.*"\n'
BROWSER_REQUEST = (
    b"GET /2026/11/a-post/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Referer: http://127.0.0.1:8080/\r\nConnection: keep-alive\r\n"
    b"Cookie: wordpress_test_cookie=WP%20Cookie%20check; wp-settings-1=libraryContent%3Dbrowse\r\n"
    b"Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Site: same-origin\r\nSec-Fetch-User: ?1\r\nPriority: u=0, i\r\n\r\n"
)
BODY = b"x" * 73  # with the head below: a small page, as in the benchmark suite
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 06:50:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n%s"
    % (len(BODY), BODY)
)
CHUNKED_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: Apache\r\nDate: Thu, 26 Nov 2026 06:50:00 GMT\r\n"
    b"Content-Type: text/html; charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)
)


class FakeTransport(asyncio.Transport):
    """Counts what is written; closing reports connection_lost later, as asyncio does."""

    def __init__(
        self, protocol: ClientProtocol | UpstreamProtocol, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__()
        self._protocol = protocol
        self._loop = loop
        self._closing = False
        self.written = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return PEER if name == "peername" else default  # no "socket": nothing to set

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self._closing

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class Rig:
    """A started proxy with one fake client connection and one pooled backend connection."""

    def __init__(
        self,
        proxy: Proxy,
        listening: socket.socket,
        client: ClientProtocol,
        upstream: UpstreamProtocol,
        request: bytes,
        response: bytes,
    ) -> None:
        self.proxy = proxy
        self.request = request
        self.response = response
        self.listening = listening
        self.client = client
        self.upstream = upstream

    @classmethod
    async def start(
        cls,
        access_log: AccessLog | None,
        seed: bool = False,
        chunked: bool = False,
        stale: bool = False,
        edits: bool = False,
        session: bool = False,
    ) -> Rig:
        loop = asyncio.get_running_loop()
        level = 0 if access_log is None else access_log.level
        config = load_config_text(
            CONFIG.format(
                log_level=level,
                backend_port=BACKEND_PORT,
                service_extra=(SEED_SERVICE if seed else "")
                + (STALE_SERVICE if stale else "")
                + (SESSION_SERVICE if session else ""),
                listener_extra=SEED_EDITS if edits else "",
            )
        )
        proxy = Proxy(config, access_log=access_log, probe=False)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.setblocking(False)
        await proxy.start([sock])
        shared = proxy._shared  # the connections' view of the running configuration
        assert shared is not None
        client = ClientProtocol(shared, shared.listeners[0])
        client.connection_made(FakeTransport(client, loop))
        upstream = UpstreamProtocol()
        upstream.connection_made(FakeTransport(upstream, loop))
        (backend,) = shared.backends.values()
        pool = backend.pool
        assert pool is not None
        pool.release(upstream, loop.time())
        request = BROWSER_REQUEST if seed else REQUEST
        response = CHUNKED_RESPONSE if chunked else RESPONSE
        return cls(proxy, sock, client, upstream, request, response)

    def one_request(self) -> Callable[[], None]:
        """The function that runs one request and its response."""
        client_data = self.client.data_received
        upstream_data = self.upstream.data_received
        request = self.request
        response = self.response

        def one() -> None:
            client_data(request)
            upstream_data(response)

        return one

    def run(self, n: int) -> float:
        """Seconds for ``n`` requests; checks every response reached the client whole."""
        one = self.one_request()
        transport = self.client.transport
        assert isinstance(transport, FakeTransport)
        before = transport.written
        start = time.perf_counter()
        for _ in range(n):
            one()
        elapsed = time.perf_counter() - start
        per_response = (transport.written - before) / n
        if self.client.exchange is not None or per_response < len(self.response):
            raise SystemExit(f"the proxy did not answer every request ({per_response:.0f} B)")
        return elapsed

    async def stop(self) -> None:
        await self.proxy.stop(grace=1.0)
        self.upstream.close()
        await asyncio.sleep(0)  # let the fake transports report connection_lost
        self.listening.close()


def profile(rig: Rig, n: int, out: TextIO) -> None:
    one = rig.one_request()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        one()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(PROFILE_ROWS)
    calls: int = stats.total_calls  # type: ignore[attr-defined]
    print(f"{calls / n:.1f} Python function calls per request", file=out)


def count_opcodes(rig: Rig, n: int, out: TextIO) -> None:
    """Bytecode instructions executed per request, by function: a figure that does not
    depend on how busy the machine is (timings here vary by a third on 2 shared cores)."""
    one = rig.one_request()
    counts: Counter[str] = Counter()

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        if event == "call":
            frame.f_trace_opcodes = True
        elif event == "opcode":
            code = frame.f_code
            counts[f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_qualname}"] += 1
        return trace

    sys.settrace(trace)
    try:
        for _ in range(n):
            one()
    finally:
        sys.settrace(None)
    for name, count in counts.most_common(OPCODE_ROWS):
        print(f"{count / n:8.1f}  {name}", file=out)
    print(f"{counts.total() / n:.1f} bytecode instructions per request", file=out)


async def measure(args: argparse.Namespace, access_log: AccessLog | None) -> None:
    rig = await Rig.start(
        access_log,
        seed=args.seed,
        chunked=args.chunked,
        stale=args.stale,
        edits=args.edits,
        session=args.session,
    )
    try:
        rig.run(WARMUP_REQUESTS)
        if args.profile:
            profile(rig, args.requests, sys.stdout)
        if args.opcodes:
            count_opcodes(rig, OPCODE_REQUESTS, sys.stdout)
        best = min(rig.run(args.requests) for _ in range(args.rounds))
    finally:
        await rig.stop()
    what = "LogLevel 1 to a file" if access_log is not None else "LogLevel 0"
    if args.seed:
        what += "; seed routing, a browser's request"
    if args.chunked:
        what += "; a chunked answer"
    if args.stale:
        what += "; StaleFallback"
    if args.edits:
        what += "; 2 AddHeader, 2 HeadRemove"
    if args.session:
        what += "; Session COOKIE"
    what += "; hot path " + compiled.describe()
    print(f"{best / args.requests * 1e6:.2f} us per request (min of {args.rounds}; {what})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="per run")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="timed runs")
    parser.add_argument("--profile", action="store_true", help="print a cProfile first")
    parser.add_argument(
        "--opcodes", action="store_true", help="print bytecode instructions per request first"
    )
    parser.add_argument("--log", metavar="FILE", help="LogLevel 1 access log to FILE")
    parser.add_argument(
        "--seed", action="store_true", help="HeadRequire routing and a browser's request"
    )
    parser.add_argument("--chunked", action="store_true", help="the backend answers chunked")
    parser.add_argument("--stale", action="store_true", help="the service has StaleFallback")
    parser.add_argument(
        "--edits", action="store_true", help="two AddHeader and two HeadRemove (issue 15)"
    )
    parser.add_argument(
        "--session", action="store_true", help="the service has a cookie Session (use --seed)"
    )
    parser.add_argument(
        "--pure",
        action="store_true",
        help="the hot path interpreted (STANDBY_PURE=1); implied by --profile and --opcodes",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if (args.pure or args.profile or args.opcodes) and not compiled.pure_wanted():
        # Profilers and bytecode counts only see interpreted code; the compiled modules
        # are already imported here, so the run starts again with their source preferred.
        line = sys.argv[1:] if argv is None else argv
        env = {**os.environ, compiled.PURE_VARIABLE: "1"}
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *line], env)
    if args.log is None:
        uvloop.run(measure(args, None))
        return
    with open(args.log, "a", encoding="utf-8") as stream:
        writer = StderrAccessWriter(stream)
        uvloop.run(measure(args, AccessLog(1, False, writer)))
        writer.flush()


if __name__ == "__main__":
    main()
