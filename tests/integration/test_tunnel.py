"""Pound 4's `Tunnel` through the installed program with its default worker count: bytes
both ways in any amount, flow control, half-close, a refused or silent backend, the idle
TimeOut, Disabled, a reload that keeps open tunnels, a graceful stop that waits for them,
and SocketFrom."""

from __future__ import annotations

import contextlib
import hashlib
import select
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.test_socketfrom import Passer
from tests.process.harness import DEADLINE, Standby, free_port, running_standby, wait_for
from tests.support.backend import Backend
from tests.support.harness import get

CONFIG = """\
Daemon 0
LogLevel 1
Grace {grace}
Tunnel "t"
  {listen}
  Backend
    Address 127.0.0.1
    Port {backend}
{extra}  End
End
"""

# Bytes sent each way in the bulk test: far more than any socket or tunnel buffer.
BULK = 4 * 1024 * 1024
# Bytes the flooding backend offers a client that does not read: if the tunnel did not
# stop reading from the backend, all of it would be taken (into standby's memory).
FLOOD = 64 * 1024 * 1024
# The flooding backend counts its socket as blocked once it stays unwritable this long.
STALL = 2.0
CHUNK = 64 * 1024
FAREWELL = b"bye"


class Peer:
    """A backend on 127.0.0.1: each accepted connection is served by ``handler`` in its
    own thread."""

    def __init__(self, handler: Callable[[socket.socket], None], backlog: int = 16) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(DEADLINE)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.handler = handler
        self.threads: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(DEADLINE)
            self.handler(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close does not)
        self.sock.close()
        self.thread.join(DEADLINE)
        for thread in self.threads:
            thread.join(DEADLINE)


def echo_then_farewell(conn: socket.socket) -> None:
    """Echo until the client's EOF, then send FAREWELL (the other direction is still open
    after a half-close) and close."""
    while data := conn.recv(CHUNK):
        conn.sendall(data)
    conn.sendall(FAREWELL)


def pattern(size: int) -> bytes:
    return (hashlib.sha256(b"tunnel").digest() * (size // 32 + 1))[:size]


def receive_all(sock: socket.socket) -> bytes:
    parts = []
    while data := sock.recv(CHUNK):
        parts.append(data)
    return b"".join(parts)


def exchange(sock: socket.socket, data: bytes = b"ping") -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(len(data) - len(got))
        if not chunk:
            break
        got += chunk
    return got


def closed_by_peer(sock: socket.socket) -> bool:
    """The peer closed: EOF or a reset (standby closes or aborts the connection)."""
    try:
        return sock.recv(CHUNK) == b""
    except ConnectionResetError:
        return True


@contextlib.contextmanager
def tunnel(
    tmp_path: Path,
    backend: int,
    extra: str = "",
    grace: int = 30,
    listen: str | None = None,
    workers: int | None = None,
) -> Iterator[tuple[Standby, int, Path]]:
    port = free_port()
    text = CONFIG.format(
        grace=grace,
        listen=listen or f"Address 127.0.0.1\n  Port {port}",
        backend=backend,
        extra=extra,
    )
    path = tmp_path / "pound.cfg"
    path.write_text(text)
    with running_standby(path, workers) as standby:
        yield standby, port, path


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    return sock


def test_bytes_go_both_ways_and_a_half_close_is_passed_on(tmp_path: Path) -> None:
    peer = Peer(echo_then_farewell)
    try:
        with tunnel(tmp_path, peer.port) as (standby, port, _), connect(port) as client:
            data = pattern(BULK)

            def send() -> None:
                client.sendall(data)
                client.shutdown(socket.SHUT_WR)  # the backend sees EOF, then answers

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            got = receive_all(client)
            sender.join(DEADLINE)
            assert got == data + FAREWELL, standby.stderr()
            # Pound writes no access log line for a tunnel.
            assert "127.0.0.1 -" not in standby.stderr()
    finally:
        peer.close()


def test_a_slow_reader_holds_back_the_sender(tmp_path: Path) -> None:
    blocked = threading.Event()
    offered: list[int] = []
    data = pattern(FLOOD)

    def flood(conn: socket.socket) -> None:
        conn.setblocking(False)
        view = memoryview(data)
        sent = 0
        while sent < len(data):
            _, writable, _ = select.select([], [conn], [], STALL)
            if not writable:
                if not blocked.is_set():
                    offered.append(sent)
                    blocked.set()
                _, writable, _ = select.select([], [conn], [], DEADLINE)
                if not writable:
                    return
            with contextlib.suppress(BlockingIOError):
                sent += conn.send(view[sent : sent + CHUNK])

    peer = Peer(flood)
    try:
        with tunnel(tmp_path, peer.port) as (standby, port, _), connect(port) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
            wait_for(blocked.is_set, "the backend blocked by the client not reading")
            assert offered[0] < FLOOD // 2, offered  # standby stopped taking its bytes
            got = bytearray()
            while len(got) < FLOOD:
                chunk = client.recv(1 << 20)
                assert chunk, standby.stderr()
                got += chunk
            assert got == data
    finally:
        peer.close()


def test_a_refused_connection_closes_the_client_s(tmp_path: Path) -> None:
    nobody = free_port()  # nothing listens there
    with tunnel(tmp_path, nobody) as (standby, port, _), connect(port) as client:
        assert closed_by_peer(client)
        wait_for(lambda: "can't connect to tunnel backend" in standby.stderr(), "the log")


def test_a_backend_that_does_not_accept_within_connto_closes_the_client_s(
    tmp_path: Path,
) -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    # to it neither succeeds nor fails until the client gives up.
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        filler.connect_ex(silent.getsockname())
        fillers.append(filler)
    try:
        backend = int(silent.getsockname()[1])
        with (
            tunnel(tmp_path, backend, "    ConnTO 1\n") as (standby, port, _),
            connect(port) as client,
        ):
            assert closed_by_peer(client)
            wait_for(lambda: "timed out" in standby.stderr(), "the ConnTO log line")
    finally:
        for filler in fillers:
            filler.close()
        silent.close()


def test_an_idle_tunnel_is_closed_after_timeout(tmp_path: Path) -> None:
    peer = Peer(echo_then_farewell)
    try:
        with (
            tunnel(tmp_path, peer.port, "    TimeOut 1\n") as (standby, port, _),
            connect(port) as client,
        ):
            assert exchange(client) == b"ping"
            assert closed_by_peer(client)  # no byte either way for TimeOut
            wait_for(lambda: "I/O time out in tunnel" in standby.stderr(), "the log")
    finally:
        peer.close()


def test_a_disabled_backend_closes_every_connection(tmp_path: Path) -> None:
    # Pound 4.23 crashes (SIGSEGV) on the first connection to a disabled tunnel backend.
    peer = Peer(echo_then_farewell)
    try:
        with (
            tunnel(tmp_path, peer.port, "    Disabled 1\n") as (standby, port, _),
            connect(port) as client,
        ):
            assert closed_by_peer(client)
            assert peer.accepted == 0
            wait_for(lambda: "is disabled" in standby.stderr(), "the log")
    finally:
        peer.close()


# None: the default worker count (a supervisor and workers); 1: one process (Proxy.reload).
@pytest.mark.parametrize("workers", [None, 1])
def test_a_reload_keeps_the_socket_and_the_open_tunnels(
    tmp_path: Path, workers: int | None
) -> None:
    peer = Peer(echo_then_farewell)
    try:
        with (
            tunnel(tmp_path, peer.port, workers=workers) as (standby, port, path),
            connect(port) as before,
        ):
            assert exchange(before) == b"ping"
            text = path.read_text()
            backend = f"Port {peer.port}"
            path.write_text(text.replace(backend, f"TimeOut 60\n    {backend}"))
            standby.signal(signal.SIGHUP)
            wait_for(lambda: "configuration reloaded" in standby.stderr(), "the reload")
            assert exchange(before, b"still") == b"still", standby.stderr()
            with connect(port) as after:
                assert exchange(after) == b"ping", standby.stderr()
    finally:
        peer.close()


@pytest.mark.parametrize("workers", [None, 1])
def test_a_graceful_stop_waits_for_open_tunnels(tmp_path: Path, workers: int | None) -> None:
    peer = Peer(echo_then_farewell)
    try:
        with (
            tunnel(tmp_path, peer.port, workers=workers) as (standby, port, _),
            connect(port) as client,
        ):
            assert exchange(client) == b"ping"
            standby.signal(signal.SIGTERM)
            wait_for(lambda: not accepts(port), "the listening socket closed")
            assert standby.proc.poll() is None  # the open tunnel holds the stop
            assert exchange(client, b"more") == b"more"
            client.shutdown(socket.SHUT_WR)
            assert receive_all(client) == FAREWELL
            assert standby.wait() == 0, standby.stderr()
    finally:
        peer.close()


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE):
            return True
    except OSError:
        return False


def test_socketfrom_serves_a_tunnel_on_the_socket_passed(tmp_path: Path) -> None:
    peer = Peer(echo_then_farewell)
    passer = Passer(tmp_path / "lst0.sock")
    try:
        with tunnel(tmp_path, peer.port, listen='SocketFrom "lst0.sock"') as (standby, _, _):
            assert passer.passed.is_set()
            with connect(passer.port) as client:
                assert exchange(client) == b"ping", standby.stderr()
    finally:
        passer.close()
        peer.close()


HTTP_LISTENER = """\
Daemon 0
LogLevel 0
ListenHTTP
  Address 127.0.0.1
  Port {port}
  Service
    Backend
      Address 127.0.0.1
      Port {backend}
    End
  End
End
"""


@pytest.mark.parametrize("workers", [None, 1])
def test_a_reload_can_turn_a_listener_s_socket_into_a_tunnel_s(
    tmp_path: Path, workers: int | None
) -> None:
    peer = Peer(echo_then_farewell)
    try:
        with Backend("http") as web:
            port = free_port()
            path = tmp_path / "pound.cfg"
            path.write_text(HTTP_LISTENER.format(port=port, backend=web.port))
            with running_standby(path, workers) as standby:
                assert get(port).body == b"http", standby.stderr()
                listen = f"Address 127.0.0.1\n  Port {port}"
                path.write_text(CONFIG.format(grace=30, listen=listen, backend=peer.port, extra=""))
                standby.signal(signal.SIGHUP)
                wait_for(lambda: "configuration reloaded" in standby.stderr(), "the reload")
                with connect(port) as client:
                    assert exchange(client) == b"ping", standby.stderr()
    finally:
        peer.close()
