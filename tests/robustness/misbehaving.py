"""Backends that misbehave on purpose, on loopback, for the robustness suite.

``ScriptedBackend`` accepts connections (one thread each, every socket operation bounded by
``DEADLINE``), records every byte and every request per connection, and answers through a
*responder*: a function from the bytes not yet consumed on a connection to an ``Action``
(how many bytes were one request, what to send back, then what to do with the connection).

``fault_responder`` picks the misbehaviour by the first segment of the request path
(``GET /<fault>/<anything>``), so one backend serves every fault of the ``FAULTS`` table and
tests can tell which connection carried which fault. A full backlog (connects hang) is
``tests.support.peers.FullBacklog``.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import re
import select
import socket
import struct
import termios
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.robustness.report import record
from tests.support.harness import DEADLINE
from tests.support.peers import FullBacklog

__all__ = [
    "FAULTS",
    "Action",
    "ConnRecord",
    "Fault",
    "FullBacklog",
    "ScriptedBackend",
    "Then",
    "fault_responder",
    "recorded",
]

# Bytes read per recv: large enough that a flood is recorded in few iterations.
RECV_SIZE = 65536
# Accept queue of the listening socket: the suite opens at most a few dozen at once.
LISTEN_BACKLOG = 128
# Body sizes a broken response announces, and how much of it is sent before breaking off.
ANNOUNCED_BODY = 100_000
SENT_BEFORE_BREAK = 1000
# A response header longer than standby's response head limit (64 KiB).
OVERSIZED_HEADER = 70_000


class Then(enum.Enum):
    """What the backend does with the connection after sending its reply."""

    KEEP = "keep"  # keep serving requests on it
    CLOSE = "close"  # close it (FIN)
    RESET = "reset"  # abort it (RST)
    HANG = "hang"  # keep reading and recording, never answer anything again


@dataclass(frozen=True)
class Action:
    """A responder's decision for the bytes at the start of a connection's unread data."""

    consumed: int  # bytes that made up this request
    send: bytes = b""
    then: Then = Then.KEEP
    request: object = None  # what the responder parsed, kept in ConnRecord.requests
    error: str | None = None  # the bytes were not a well-formed request: why


@dataclass
class ConnRecord:
    """One accepted connection, as the backend saw it."""

    index: int
    data: bytearray = field(default_factory=bytearray)  # every byte received
    pending: bytes = b""  # received, not yet consumed by a request
    requests: list[object] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ended: bool = False
    closed_by_peer: bool = False  # the proxy closed (or reset) it, not us
    busy: bool = False  # between a recv and the end of its processing
    sock: socket.socket | None = None


Responder = Callable[[bytes], "Action | None"]


class ScriptedBackend:
    """A recording backend answering through ``responder`` (None: more bytes needed)."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(LISTEN_BACKLOG)
        self.port = int(self.sock.getsockname()[1])
        self.lock = threading.Lock()
        self.conns: list[ConnRecord] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)

    # -- serving --------------------------------------------------------------------------

    def _accept(self) -> None:
        self.sock.setblocking(False)
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        while not self._stop.is_set():
            poller.poll()  # stop() shuts the socket down, which wakes this up
            # Accept under the lock, so ``settled`` never misses a connection that has left
            # the accept queue but has no record yet.
            with self.lock:
                try:
                    conn, _ = self.sock.accept()
                except BlockingIOError:
                    continue
                except OSError:
                    return
                record = ConnRecord(len(self.conns), sock=conn)
                self.conns.append(record)
            thread = threading.Thread(target=self._serve, args=(conn, record), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, rec: ConnRecord) -> None:
        conn.setblocking(False)
        poller = select.poll()
        poller.register(conn, select.POLLIN)
        hanging = False
        reset = False
        try:
            while not self._stop.is_set():
                # Wait unlocked; read under the lock with ``busy`` set, so that ``settled``
                # never sees bytes that left the socket but are not recorded yet.
                ready = poller.poll(DEADLINE * 1000)
                with self.lock:
                    try:
                        data = conn.recv(RECV_SIZE) if ready else b""
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        rec.closed_by_peer = bool(ready) and not self._stop.is_set()
                        return
                    rec.data += data
                    if hanging:
                        continue  # recorded, never answered
                    rec.pending += data
                    rec.busy = True
                while True:
                    with self.lock:
                        pending = rec.pending
                    action = self.responder(pending) if pending else None
                    if action is None:
                        break
                    with self.lock:
                        rec.pending = pending[action.consumed :]
                        if action.request is not None:
                            rec.requests.append(action.request)
                        if action.error is not None:
                            rec.errors.append(action.error)
                    if action.send:
                        _send_all(conn, action.send)
                    if action.then is Then.CLOSE:
                        return
                    if action.then is Then.RESET:
                        reset = True
                        return
                    if action.then is Then.HANG:
                        hanging = True
                        break
                with self.lock:
                    rec.busy = False
        except OSError:
            pass  # the proxy went away mid-send: recorded as ended below
        finally:
            if reset:
                # SO_LINGER on, zero seconds: close() sends RST instead of FIN.
                with contextlib.suppress(OSError):
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            with self.lock:
                rec.ended = True
                rec.busy = False
                rec.sock = None

    # -- observing ------------------------------------------------------------------------

    def snapshot(self) -> list[ConnRecord]:
        with self.lock:
            return list(self.conns)

    @property
    def accepted(self) -> int:
        with self.lock:
            return len(self.conns)

    def settled(self) -> bool:
        """Every byte sent to us so far has been read and handled (nothing is left unread
        in a socket buffer, no connection is being processed)."""
        with self.lock:
            if select.select([self.sock], [], [], 0)[0]:
                return False  # a connection waits in the accept queue
            for rec in self.conns:
                if rec.busy:
                    return False
                if rec.sock is not None and _unread(rec.sock) > 0:
                    return False
            return True

    # -- life -----------------------------------------------------------------------------

    def start(self) -> ScriptedBackend:
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self.lock:
            socks = [rec.sock for rec in self.conns if rec.sock is not None]
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._accept_thread.join(DEADLINE)
        for thread in self._threads:
            thread.join(DEADLINE)

    def __enter__(self) -> ScriptedBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _send_all(sock: socket.socket, data: bytes) -> None:
    """sendall on a non-blocking socket, each wait bounded by ``DEADLINE``."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            _, writable, _ = select.select([], [sock], [], DEADLINE)
            if not writable:
                raise TimeoutError("peer does not read") from None
            continue
        view = view[sent:]


def _unread(sock: socket.socket) -> int:
    """Bytes waiting in the socket's receive buffer (0 once closed)."""
    try:
        buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return int(struct.unpack("i", buf)[0])


# -- the fault table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    reply: bytes
    then: Then
    expect: str  # what the proxy's client must see: "502", "504", "truncated", "200"


def _head(*lines: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


_PARTIAL = b"x" * SENT_BEFORE_BREAK
_LENGTH_HEAD = _head(b"HTTP/1.1 200 OK", b"Content-Length: %d" % ANNOUNCED_BODY)
_CHUNKED_HEAD = _head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked")
_ONE_CHUNK = b"%x\r\n%s\r\n" % (len(_PARTIAL), _PARTIAL)

# name -> (what to answer, what to do then, what the client of the proxy must see). The
# malformed answers keep the connection open (KEEP): closing it is the proxy's job.
FAULTS: dict[str, Fault] = {
    "ok": Fault(_head(b"HTTP/1.1 200 OK", b"Content-Length: 2") + b"ok", Then.KEEP, "200"),
    # No answer at all.
    "silent": Fault(b"", Then.HANG, "504"),
    "close": Fault(b"", Then.CLOSE, "502"),
    "reset": Fault(b"", Then.RESET, "502"),
    # A good head, part of the body, then the backend breaks off.
    "length-then-reset": Fault(_LENGTH_HEAD + _PARTIAL, Then.RESET, "truncated"),
    "length-then-close": Fault(_LENGTH_HEAD + _PARTIAL, Then.CLOSE, "truncated"),
    "chunked-then-reset": Fault(_CHUNKED_HEAD + _ONE_CHUNK, Then.RESET, "truncated"),
    "chunked-then-close": Fault(_CHUNKED_HEAD + _ONE_CHUNK, Then.CLOSE, "truncated"),
    "length-then-silent": Fault(_LENGTH_HEAD + _PARTIAL, Then.HANG, "truncated"),
    # Malformed heads.
    "two-lengths": Fault(
        _head(b"HTTP/1.1 200 OK", b"Content-Length: 2", b"Content-Length: 3") + b"okk",
        Then.KEEP,
        "502",
    ),
    "chunked-chunked": Fault(
        _head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked, chunked") + b"0\r\n\r\n",
        Then.KEEP,
        "502",
    ),
    "length-and-chunked": Fault(
        _head(b"HTTP/1.1 200 OK", b"Content-Length: 5", b"Transfer-Encoding: chunked")
        + b"0\r\n\r\n",
        Then.KEEP,
        "502",
    ),
    "bad-status-line": Fault(_head(b"HTTP/1.1 OK", b"Content-Length: 0"), Then.KEEP, "502"),
    "bad-status-code": Fault(_head(b"HTTP/1.1 20 OK", b"Content-Length: 0"), Then.KEEP, "502"),
    "not-http": Fault(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", Then.KEEP, "502"),
    "oversized-header": Fault(
        _head(b"HTTP/1.1 200 OK", b"X-Big: " + b"a" * OVERSIZED_HEADER, b"Content-Length: 0"),
        Then.KEEP,
        "502",
    ),
    "bare-cr": Fault(
        _head(b"HTTP/1.1 200 OK", b"X-A: a\rb", b"Content-Length: 0"), Then.KEEP, "502"
    ),
    "bare-lf": Fault(b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", Then.KEEP, "502"),
    "nul": Fault(_head(b"HTTP/1.1 200 OK", b"X-A: a\x00b", b"Content-Length: 0"), Then.KEEP, "502"),
    "obs-fold": Fault(
        _head(b"HTTP/1.1 200 OK", b"X-A: a", b" folded", b"Content-Length: 0"), Then.KEEP, "502"
    ),
    "space-before-colon": Fault(_head(b"HTTP/1.1 200 OK", b"Content-Length : 0"), Then.KEEP, "502"),
    "negative-length": Fault(_head(b"HTTP/1.1 200 OK", b"Content-Length: -1"), Then.KEEP, "502"),
    "bad-chunk-size": Fault(_CHUNKED_HEAD + b"zz\r\nhello\r\n0\r\n\r\n", Then.KEEP, "truncated"),
}

MALFORMED = tuple(name for name, fault in FAULTS.items() if fault.expect == "502" and fault.reply)
TRUNCATING = tuple(name for name, fault in FAULTS.items() if fault.expect == "truncated")

_CONTENT_LENGTH_RE = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)


@dataclass(frozen=True)
class FaultRequest:
    """A request as the fault backend recorded it."""

    fault: str
    target: bytes
    head: bytes


def fault_of(target: bytes) -> str:
    """The fault a request target asks for: its first path segment, else "ok"."""
    name = target.lstrip(b"/").split(b"/", 1)[0].split(b"?", 1)[0].decode("latin-1")
    return name if name in FAULTS else "ok"


def fault_responder(pending: bytes) -> Action | None:
    """Answers one request (head plus Content-Length body) as its path's fault says."""
    end = pending.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = pending[: end + 4]
    m = _CONTENT_LENGTH_RE.search(head)
    length = int(m.group(1)) if m else 0
    if len(pending) < end + 4 + length:
        return None
    parts = head.split(b" ", 2)
    target = parts[1] if len(parts) > 2 else b""
    name = fault_of(target)
    fault = FAULTS[name]
    return Action(
        consumed=end + 4 + length,
        send=fault.reply,
        then=fault.then,
        request=FaultRequest(name, target, head),
    )


# -- the report -----------------------------------------------------------------------------


@contextlib.contextmanager
def recorded(scenario: str, command: str, notes: str = "") -> Iterator[dict[str, object]]:
    """The figures of one scenario, recorded for the report when the block ends: passed
    if it ends normally, failed (with the reason) if it raises; a skip records nothing."""
    figures: dict[str, object] = {}
    try:
        yield figures
    except pytest.skip.Exception:
        raise
    except BaseException as exc:
        reason = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
        record(scenario, figures, passed=False, command=command, notes=f"{notes} {reason}".strip())
        raise
    record(scenario, figures, passed=True, command=command, notes=notes)
