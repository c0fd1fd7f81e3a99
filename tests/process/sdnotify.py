"""systemd's side of the notification protocol, for tests: a real AF_UNIX datagram socket
named by ``NOTIFY_SOCKET``, read as systemd reads it (one datagram, ``KEY=VALUE`` lines)."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.process.harness import DEADLINE

DATAGRAM = 4096  # systemd reads notifications of up to this size (more than we send)
Message = dict[str, str]


def parse(datagram: bytes) -> Message:
    """``READY=1\\nSTATUS=...`` -> {"READY": "1", "STATUS": "..."}."""
    pairs = (line.partition("=") for line in datagram.decode().split("\n") if line)
    return {key: value for key, _, value in pairs}


@dataclass
class NotifySocket:
    """The bound socket; ``address`` is what goes into ``NOTIFY_SOCKET``."""

    sock: socket.socket
    address: str
    received: list[Message] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a standby started under it."""
        return {**os.environ, "NOTIFY_SOCKET": self.address, **extra}

    def next(self, timeout: float) -> Message | None:
        """The next notification within ``timeout`` seconds, else None."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(DATAGRAM)
        except TimeoutError:
            return None
        message = parse(data)
        self.received.append(message)
        return message

    def wait_for(
        self, match: Callable[[Message], bool], what: str, deadline: float = DEADLINE
    ) -> list[Message]:
        """Every notification up to and including the first that matches."""
        end = time.monotonic() + deadline
        seen: list[Message] = []
        while True:
            message = self.next(end - time.monotonic())
            if message is None:
                raise AssertionError(f"timed out waiting for {what}; got {seen}")
            seen.append(message)
            if match(message):
                return seen

    def drain(self) -> list[Message]:
        """What is queued now, without waiting."""
        self.sock.setblocking(False)
        seen: list[Message] = []
        try:
            while True:
                message = parse(self.sock.recv(DATAGRAM))
                self.received.append(message)
                seen.append(message)
        except BlockingIOError:
            return seen


@contextlib.contextmanager
def notify_socket(abstract: bool = False) -> Iterator[NotifySocket]:
    """A notification socket at a short path (sun_path holds 108 bytes), or in the
    abstract namespace (``@name``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with sock, tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as folder:
        if abstract:
            name = f"standby-test-{os.getpid()}-{os.path.basename(folder)}"
            sock.bind(b"\0" + name.encode())
            yield NotifySocket(sock, "@" + name)
        else:
            path = os.path.join(folder, "notify")
            sock.bind(path)
            yield NotifySocket(sock, path)


def is_ready(message: Message) -> bool:
    return message.get("READY") == "1"
