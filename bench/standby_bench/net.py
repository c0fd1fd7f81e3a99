"""Loopback sockets for the benchmark: readiness, big transfers, idle connections.

Everything here talks to 127.0.0.1 only, and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import http.client
import selectors
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"  # loopback only: the benchmark never sends traffic anywhere else
READY_TIMEOUT = 60.0  # s a server may take to start answering
READY_WRONG_ANSWER = 10.0  # s a server may answer non-200 (starting up) before it fails
READY_POLL = 0.05  # s between readiness probes (polling a condition, not synchronising)
TRANSFER_CHUNK = 256 * 1024  # bytes per send/recv call in the big transfers
MAX_HEAD = 64 * 1024  # a response head longer than this is not a well-behaved server's
IDLE_CONCURRENCY = 256  # connections being opened at once by open_idle (listen backlogs)
IDLE_TIMEOUT = 120.0  # s to open all idle connections before giving up
BENCH_HOST_HEADER = b"bench.local"  # Host header of requests the script writes itself


class BenchError(Exception):
    """Stops a measurement (or the benchmark) with a message for the operator."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def wait_answering(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until GET / on ``port`` answers 200, failing early if ``proc`` died or keeps
    answering something else."""
    deadline = time.monotonic() + READY_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode}:\n{tail(log)}")
        conn = http.client.HTTPConnection(HOST, port, timeout=READY_TIMEOUT)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return
            if last is None or not isinstance(last, int):
                deadline = min(deadline, time.monotonic() + READY_WRONG_ANSWER)
            last = resp.status
        except OSError as exc:
            last = exc
        finally:
            conn.close()
        time.sleep(READY_POLL)
    raise BenchError(f"nothing answers 200 on {HOST}:{port} (last: {last!r}):\n{tail(log)}")


# --- responses (pure) -------------------------------------------------------------------------


def parse_response_head(head: bytes) -> tuple[int, int | None]:
    """Status and Content-Length (None when absent) of a response head ending in CRLFCRLF."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise BenchError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
    length: int | None = None
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif sep and name.strip().lower() == b"transfer-encoding":
            raise BenchError("chunked response: the bench expects Content-Length")
    return int(parts[1]), length


def response_complete(received: bytes) -> bool:
    """Whether ``received`` holds a whole response with a Content-Length body."""
    end = received.find(b"\r\n\r\n")
    if end < 0:
        return False
    _, length = parse_response_head(received[: end + 4])
    return len(received) - end - 4 >= (length or 0)


def request_head(method: str, path: str, length: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + BENCH_HOST_HEADER]
    if length is not None:
        lines.append(f"Content-Length: {length}".encode())
    return b"\r\n".join([*lines, b"", b""])


# --- big transfers ----------------------------------------------------------------------------


def _read_head(sock: socket.socket) -> tuple[int, int | None, int]:
    """Status, Content-Length, and how many body bytes came with the head."""
    received = b""
    while (end := received.find(b"\r\n\r\n")) < 0:
        if len(received) > MAX_HEAD:
            raise BenchError("response head too long")
        data = sock.recv(TRANSFER_CHUNK)
        if not data:
            raise BenchError("connection closed before a response head")
        received += data
    status, length = parse_response_head(received[: end + 4])
    return status, length, len(received) - end - 4


def _drain(sock: socket.socket, left: int) -> None:
    buffer = memoryview(bytearray(TRANSFER_CHUNK))
    while left > 0:
        got = sock.recv_into(buffer, min(left, TRANSFER_CHUNK))
        if got == 0:
            raise BenchError(f"connection closed with {left} body bytes missing")
        left -= got


def upload(port: int, path: str, size: int, timeout: float) -> float:
    """POST ``size`` zero bytes (Content-Length, sent as a stream) and read the answer;
    returns the seconds from the first byte sent to the last byte of the response."""
    chunk = memoryview(bytes(TRANSFER_CHUNK))
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(request_head("POST", path, size))
        left = size
        while left > 0:
            left -= sock.send(chunk[: min(left, TRANSFER_CHUNK)])
        status, length, extra = _read_head(sock)
        _drain(sock, (length or 0) - extra)
        elapsed = time.monotonic() - started
    if status != 200:
        raise BenchError(f"upload answered {status}")
    return elapsed


def download(port: int, path: str, size: int, timeout: float) -> float:
    """GET ``path`` (a ``size``-byte file) and read it all; returns the seconds it took."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(request_head("GET", path))
        status, length, extra = _read_head(sock)
        if status != 200 or length != size:
            raise BenchError(f"download answered {status} with {length} bytes, not {size}")
        _drain(sock, length - extra)
        return time.monotonic() - started


# --- idle keep-alive connections ----------------------------------------------------------------


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` keep-alive connections, each after one complete GET / exchange, and
    return them open and idle. On failure every socket opened so far is closed."""
    request = request_head("GET", "/")
    sel = selectors.DefaultSelector()
    opened: list[socket.socket] = []
    held: list[socket.socket] = []
    deadline = time.monotonic() + IDLE_TIMEOUT
    try:
        while len(held) < count:
            while len(opened) < count and len(opened) - len(held) < IDLE_CONCURRENCY:
                sock = socket.socket()
                opened.append(sock)
                sock.setblocking(False)
                sock.connect_ex((HOST, port))
                sel.register(sock, selectors.EVENT_WRITE, bytearray())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"only {len(held)} of {count} idle connections opened in time")
            for key, mask in sel.select(timeout=remaining):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                if mask & selectors.EVENT_WRITE:
                    error = conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        raise BenchError(f"idle connection {len(opened)} failed: errno {error}")
                    conn.send(request)  # a few dozen bytes: always fit the empty send buffer
                    sel.modify(conn, selectors.EVENT_READ, key.data)
                    continue
                data = conn.recv(TRANSFER_CHUNK)
                if not data:
                    raise BenchError("the target closed a connection before answering")
                key.data.extend(data)
                if response_complete(bytes(key.data)):
                    sel.unregister(conn)
                    held.append(conn)
    except BaseException:
        close_all(opened)
        raise
    finally:
        sel.close()
    return held


def count_open(socks: Sequence[socket.socket]) -> int:
    """How many of the idle connections the peer has not closed (nor written to)."""
    with selectors.DefaultSelector() as sel:
        for sock in socks:
            sel.register(sock, selectors.EVENT_READ)
        return len(socks) - len(sel.select(timeout=0))


def close_all(socks: Sequence[socket.socket]) -> None:
    for sock in socks:
        sock.close()


# --- TLS ----------------------------------------------------------------------------------------

# The request of a handshake run (what `openssl s_time -www /` sends): HTTP/1.0, no Host, so
# the server closes after its answer.
HANDSHAKE_REQUEST = b"GET / HTTP/1.0\r\n\r\n"
TLS_TIMEOUT = 30.0  # s one TLS handshake and its answer may take in a probe


@dataclass(frozen=True, slots=True)
class TlsProbe:
    """One TLS connection with one request, as a client saw it."""

    status: int
    version: str  # e.g. "TLSv1.3"
    cipher: str
    resumed: bool


def client_context(pem: Path) -> ssl.SSLContext:
    """A client that trusts exactly the bench's certificate ``pem`` (self-signed) and checks
    that it names 127.0.0.1: every target must serve that very certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.load_verify_locations(cadata=_certificates_only(pem.read_text()))
    return context


def _certificates_only(pem_text: str) -> str:
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = pem_text.index(begin)
    return pem_text[start : pem_text.index(end, start) + len(end)] + "\n"


def tls_probe(
    port: int, context: ssl.SSLContext, session: ssl.SSLSession | None = None
) -> tuple[TlsProbe, ssl.SSLSession | None]:
    """One TLS connection, HANDSHAKE_REQUEST, the whole answer; the session for a resumption
    (TLS 1.3 tickets arrive after the handshake, so it is taken after the answer)."""
    with (
        socket.create_connection((HOST, port), timeout=TLS_TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=HOST, session=session) as sock,
    ):
        sock.sendall(HANDSHAKE_REQUEST)
        received = b""
        while data := sock.recv(TRANSFER_CHUNK):
            received += data
            if len(received) > MAX_HEAD + TRANSFER_CHUNK:
                break
        end = received.find(b"\r\n\r\n")
        if end < 0:
            raise BenchError(f"no HTTP answer over TLS on port {port}: {received[:80]!r}")
        status, _ = parse_response_head(received[: end + 4])
        cipher = sock.cipher()
        probe = TlsProbe(
            status,
            sock.version() or "?",
            cipher[0] if cipher else "?",
            bool(sock.session_reused),
        )
        return probe, sock.session


def wait_tls_answering(
    port: int, context: ssl.SSLContext, proc: subprocess.Popen[bytes], log: Path
) -> TlsProbe:
    """Wait until a TLS connection to ``port`` answers 200 (the server's plain port already
    answers, so this is only the TLS listener's own start)."""
    deadline = time.monotonic() + READY_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode}:\n{tail(log)}")
        try:
            probe, _ = tls_probe(port, context)
            if probe.status == 200:
                return probe
            last = probe
        except (OSError, BenchError) as exc:
            last = exc
        time.sleep(READY_POLL)
    raise BenchError(f"no TLS answer 200 on {HOST}:{port} (last: {last!r}):\n{tail(log)}")


def open_idle_tls(port: int, count: int, context: ssl.SSLContext) -> list[ssl.SSLSocket]:
    """``count`` TLS keep-alive connections, each after one complete GET / exchange, held
    open and idle (one at a time: the handshakes, not this loop, are what take time). On
    failure every one opened so far is closed."""
    request = request_head("GET", "/")
    held: list[ssl.SSLSocket] = []
    deadline = time.monotonic() + IDLE_TIMEOUT
    try:
        while len(held) < count:
            if time.monotonic() > deadline:
                raise BenchError(f"only {len(held)} of {count} idle TLS connections opened in time")
            raw = socket.create_connection((HOST, port), timeout=TLS_TIMEOUT)
            try:
                sock = context.wrap_socket(raw, server_hostname=HOST)
            except BaseException:
                raw.close()
                raise
            held.append(sock)
            sock.sendall(request)
            received = b""
            while not response_complete(received):
                data = sock.recv(TRANSFER_CHUNK)
                if not data:
                    raise BenchError("the target closed a TLS connection before answering")
                received += data
    except BaseException:
        close_all(list(held))
        raise
    return held
