"""Test harness: run standby's Proxy on loopback, talk to it with raw sockets, wait for
conditions with deadlines (never sleep to synchronise)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import standby.config
from standby.model import ConfigSpec
from standby.server.proxy import Proxy

# Generous: the CI machine has 2 shared, noisy cores.
DEADLINE = 20.0
# A reload reads, compiles and checks the file and swaps the configuration: generous.
RELOAD_DEADLINE = 60.0
REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], bool], timeout: float = DEADLINE, what: str = "") -> None:
    """Poll ``predicate`` until it holds or ``timeout`` passes (then fail)."""
    end = time.monotonic() + timeout
    delay = 0.005
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(delay)  # polling interval of a condition wait, not synchronisation
        delay = min(delay * 2, 0.1)


def listening_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


# Ports for listeners the tests start are chosen below the kernel's ephemeral range: a port
# from that range (what bind(0) gives) can be taken as the local port of any outgoing
# connection (the tests' own clients, the proxy's to its backends) between the moment it is
# chosen and the moment a standby process binds it, and that bind then fails.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10000  # well above the well-known and registered services of a test machine
PORT_TRIES = 200


def _listener_ports() -> range:
    """The ports below the ephemeral range (empty if there are too few)."""
    try:
        first = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    return range(LOWEST_PORT, first) if first - LOWEST_PORT >= 1000 else range(0)


_rng = random.Random()  # seeded from the OS: parallel test runs pick different ports


def free_port() -> int:
    """A loopback TCP port free now, outside the ephemeral range where one exists."""
    ports = _listener_ports()
    for _ in range(PORT_TRIES if ports else 0):
        port = _rng.choice(ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProxyThread:
    """A Proxy with its own uvloop loop in a thread, serving ``config`` on sockets bound here
    (listener ports in the config text are replaced by the bound ones, in order)."""

    def __init__(self, config: ConfigSpec, sockets: list[socket.socket], **kwargs: Any) -> None:
        self.config = config
        self.sockets = sockets
        self.kwargs = kwargs
        self.proxy: Proxy | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.errors: list[dict[str, Any]] = []
        self.grace = 5.0

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    def start(self) -> ProxyThread:
        import uvloop

        def run() -> None:
            loop = uvloop.new_event_loop()
            self.loop = loop
            loop.set_exception_handler(lambda _l, ctx: self.errors.append(ctx))

            async def main() -> None:
                self._stop = asyncio.Event()
                self.proxy = Proxy(self.config, **self.kwargs)
                await self.proxy.start(self.sockets)
                self._ready.set()
                await self._stop.wait()
                await self.proxy.stop(self.grace)

            try:
                loop.run_until_complete(main())
            finally:
                self._ready.set()
                loop.close()

        self._thread = threading.Thread(target=run, name="proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(DEADLINE) or self.proxy is None:
            raise RuntimeError("proxy did not start")
        return self

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the proxy's loop and return its result."""
        assert self.loop is not None
        result: list[Any] = []
        done = threading.Event()

        def wrapper() -> None:
            try:
                result.append(fn())
            finally:
                done.set()

        self.loop.call_soon_threadsafe(wrapper)
        if not done.wait(DEADLINE):
            raise AssertionError("proxy loop did not answer")
        return result[0]

    def reload(self) -> tuple[bool, str]:
        """Reload from the configuration's source, as SIGHUP does, in the proxy's loop:
        (whether it was applied, what the proxy said)."""
        assert self.loop is not None and self.proxy is not None
        reloading = asyncio.run_coroutine_threadsafe(self.proxy.reload_from_source(), self.loop)
        return reloading.result(RELOAD_DEADLINE)

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(DEADLINE + self.grace)
        self._thread = None

    def __enter__(self) -> ProxyThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def config_with_ports(text: str, count: int = 1) -> tuple[ConfigSpec, list[socket.socket]]:
    """Compile ``text`` whose listener ports are written ``{L0}``, ``{L1}``...; bind one
    loopback socket per listener and substitute its port."""
    sockets = [listening_socket() for _ in range(count)]
    ports = {f"L{i}": s.getsockname()[1] for i, s in enumerate(sockets)}
    return standby.config.load_config_text(text.format(**ports)), sockets


@contextlib.contextmanager
def running_proxy(text: str, listeners: int = 1, **kwargs: Any) -> Iterator[ProxyThread]:
    config, sockets = config_with_ports(text, listeners)
    proxy = ProxyThread(config, sockets, **kwargs)
    with proxy:
        yield proxy


# -- a strict little client ----------------------------------------------------------------


@dataclass
class Response:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Client:
    """A raw socket client that reads exactly one response at a time."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = DEADLINE) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_bytewise(self, data: bytes) -> None:
        """One byte per write (and per segment: no Nagle), as the slowest client sends."""
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            self.sock.sendall(data[i : i + 1])

    def _more(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read_all(self) -> bytes:
        """Everything until the peer closes."""
        while self._more():
            pass
        out, self.buf = self.buf, b""
        return out

    def closed_by_peer(self) -> bool:
        """True if the next read sees EOF or a reset (after any buffered response)."""
        try:
            return not self._more()
        except (ConnectionResetError, TimeoutError):
            return True

    def response(
        self, method: bytes = b"GET", sink: Callable[[bytes], None] | None = None
    ) -> Response:
        while b"\r\n\r\n" not in self.buf:
            if not self._more():
                raise ConnectionError("closed before a response head")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        _version, status, *reason = lines[0].split(b" ", 2)
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers.append((k.strip(), v.strip()))
        resp = Response(int(status), reason[0] if reason else b"", headers, b"", head)
        code = resp.status
        if 100 <= code < 200:
            return resp
        body = bytearray()
        take = sink or body.extend
        te = resp.header(b"transfer-encoding")
        cl = resp.header(b"content-length")
        if method == b"HEAD" or code in (204, 304):
            pass
        elif te is not None and te.lower() == b"chunked":
            while True:
                while b"\r\n" not in self.buf:
                    if not self._more():
                        raise ConnectionError("truncated chunked response")
                line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while not self.buf.startswith(b"\r\n"):
                        if b"\r\n\r\n" in self.buf:
                            self.buf = self.buf[self.buf.index(b"\r\n\r\n") + 2 :]
                            break
                        if not self._more():
                            raise ConnectionError("truncated trailers")
                    self.buf = self.buf[2:]
                    break
                while len(self.buf) < size + 2:
                    if not self._more():
                        raise ConnectionError("truncated chunk")
                take(self.buf[:size])
                self.buf = self.buf[size + 2 :]
        elif cl is not None:
            left = int(cl)
            while left:
                if not self.buf and not self._more():
                    raise ConnectionError("truncated body")
                part, self.buf = self.buf[:left], self.buf[left:]
                take(part)
                left -= len(part)
        else:
            while True:
                if self.buf:
                    take(self.buf)
                    self.buf = b""
                if not self._more():
                    break
        resp.body = bytes(body)
        return resp

    def request(
        self,
        target: str = "/",
        host: str = "www.example.com",
        method: str = "GET",
        headers: str = "",
        body: bytes = b"",
    ) -> Response:
        extra = f"Content-Length: {len(body)}\r\n" if body else ""
        self.send(
            f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{headers}{extra}\r\n".encode() + body
        )
        return self.response(method.encode())


def get(port: int, target: str = "/", host: str = "www.example.com", **kw: Any) -> Response:
    with Client(port) as c:
        return c.request(target, host, **kw)


# -- processes -----------------------------------------------------------------------------


class BackendProcess:
    """A test backend in its own process, so that it can really be killed."""

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> BackendProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.backend", self.name, str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"backend {self.name} did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(DEADLINE)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> BackendProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
