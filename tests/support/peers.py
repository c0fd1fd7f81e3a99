"""Peers that misbehave on purpose, on loopback: a recording backend that stores raw bytes,
a backend that answers scripted bytes, and a listener whose backlog is full."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable

from tests.support.harness import DEADLINE


class RawBackend:
    """Accepts connections in a thread; records every byte received per connection; on each
    connection calls ``script(conn, received_so_far)`` after each read, which may send bytes
    and returns False to close."""

    def __init__(
        self,
        script: Callable[[socket.socket, bytes], bool] | None = None,
        unix_path: str | None = None,
    ) -> None:
        self.script = script
        if unix_path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.port = 0
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = int(self.sock.getsockname()[1])
        self.sock.listen(64)
        self.received: list[bytearray] = []
        self.lock = threading.Lock()
        self.accepted = 0
        self.ended = 0  # connections the peer (the proxy) closed, or that we closed
        self._stop = False
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                buf = bytearray()
                self.received.append(buf)
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn, buf), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, buf: bytearray) -> None:
        try:
            # stop() may close the connection before this thread runs: inside the suppress.
            with contextlib.suppress(OSError), conn:
                conn.settimeout(DEADLINE)
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    with self.lock:
                        buf.extend(data)
                    if self.script is not None and not self.script(conn, bytes(buf)):
                        return
        finally:
            with self.lock:
                self.ended += 1

    def all_bytes(self) -> bytes:
        with self.lock:
            return b"".join(bytes(b) for b in self.received)

    def start(self) -> RawBackend:
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self.lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()
        self._accept_thread.join(DEADLINE)

    def __enter__(self) -> RawBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def respond_once(
    response: bytes, *, close: bool = False, reset: bool = False
) -> Callable[[socket.socket, bytes], bool]:
    """A script: when a full request head has arrived, send ``response``; then optionally
    close (FIN) or reset (RST)."""
    answered = False

    def script(conn: socket.socket, received: bytes) -> bool:
        nonlocal answered
        if not answered and b"\r\n\r\n" in received:
            answered = True
            conn.sendall(response)
            if reset:
                # SO_LINGER on, zero seconds: close() sends RST instead of FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return False
            return not close
        return True

    return script


class FullBacklog:
    """A listening socket that never accepts, with its accept queue filled, so that new
    connects hang (SYNs dropped) until the connecting side gives up."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = int(self.sock.getsockname()[1])
        self.fillers: list[socket.socket] = []
        # Linux keeps backlog+1 completed connections; fill generously, non-blocking.
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", self.port))
            self.fillers.append(s)

    def close(self) -> None:
        for s in self.fillers:
            s.close()
        self.sock.close()

    def __enter__(self) -> FullBacklog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
