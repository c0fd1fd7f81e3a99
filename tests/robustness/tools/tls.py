"""TLS clients for the robustness suite: a test CA and certificate (trustme), a keep-alive
TLS client the canary can use, real ClientHello bytes, an oversized handshake, and a TLS 1.2
client-initiated renegotiation driven through ``openssl s_client``.

Everything talks to 127.0.0.1 only; every wait has a deadline.
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.support.harness import DEADLINE, Client, wait_until

SERVER_NAME = "localhost"  # the name the test certificate is for (and 127.0.0.1)
# TLS record layer (RFC 8446 §5.1): content type, legacy version, length; then handshake
# type and a 24-bit length (§4).
RECORD_HANDSHAKE = 0x16
RECORD_VERSION = b"\x03\x01"  # what ClientHellos carry in their first record
MAX_RECORD = 16384  # bytes of plaintext in one record
HANDSHAKE_CLIENT_HELLO = 0x01
# How long the s_client driving a renegotiation may take for each step.
S_CLIENT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Pki:
    """A test CA and the server's certificate file (key and chain in one PEM, Pound's form)."""

    ca: trustme.CA
    cert_pem: Path
    ca_pem: Path

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(ctx)
        return ctx


def make_pki(directory: Path) -> Pki:
    ca = trustme.CA()
    cert = ca.issue_cert(SERVER_NAME, "127.0.0.1")
    cert_pem = directory / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_pem))
    ca_pem = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    return Pki(ca, cert_pem, ca_pem)


class TlsClient(Client):
    """``tests.support.harness.Client`` over TLS: the same request/response reading."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        timeout: float = DEADLINE,
        *,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(port, host, timeout)
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=SERVER_NAME)
        except BaseException:
            self.sock.close()
            raise


def client_hello(context: ssl.SSLContext | None = None) -> bytes:
    """The bytes a real client (Python's ssl, OpenSSL) sends first: its ClientHello."""
    ctx = context or ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=SERVER_NAME)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    assert hello[0] == RECORD_HANDSHAKE and hello[5] == HANDSHAKE_CLIENT_HELLO, hello[:8]
    return hello


def record(payload: bytes, content_type: int = RECORD_HANDSHAKE) -> bytes:
    return bytes([content_type]) + RECORD_VERSION + len(payload).to_bytes(2, "big") + payload


def oversized_client_hello(total: int) -> Iterator[bytes]:
    """A ClientHello that announces the largest length a handshake message can have (16 MiB)
    and then sends ``total`` bytes of it, one full record at a time."""
    first = bytes([HANDSHAKE_CLIENT_HELLO]) + (2**24 - 1).to_bytes(3, "big")
    first += b"\x03\x03" + bytes(MAX_RECORD - len(first) - 2)
    yield record(first)
    sent = len(first)
    while sent < total:
        chunk = min(MAX_RECORD, total - sent)
        yield record(bytes(chunk))
        sent += chunk


@dataclass(frozen=True)
class Renegotiation:
    """What ``openssl s_client -tls1_2`` saw when it asked to renegotiate mid-connection."""

    answers_before: int  # HTTP answers read before the renegotiation
    answers_after: int  # HTTP answers read after it (the connection still served)
    server_hellos: int  # 1: only the first handshake; 2: the server renegotiated
    refused_alert: bool  # the server sent a no_renegotiation alert
    seconds: float
    output: str


class _Output:
    """A child's standard output, collected by a thread as it comes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while chunk := self._proc.stdout.read1(65536):
            with self._lock:
                self._chunks.append(chunk)

    def text(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", "replace")

    def ended(self) -> bool:
        return self._proc.poll() is not None

    def join(self) -> None:
        self._thread.join(S_CLIENT_TIMEOUT)


_ANSWER = "HTTP/1.1 200"
_SERVER_HELLO = re.compile(r"^<<< .*Handshake.*ServerHello\b", re.M)
_REFUSED = re.compile(r"^<<< .*Alert.*no_renegotiation", re.M)


def renegotiate(port: int) -> Renegotiation:
    """One TLS 1.2 connection: a request, ``R`` (s_client's renegotiate command), then one
    more request if the connection is still there. -msg makes s_client print every
    handshake message and alert it reads (``<<<``). Each step waits for s_client to show
    the previous one's outcome (it reads stdin and the socket in one loop)."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is missing (Debian: apt-get install openssl)")
    request = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
    started = time.monotonic()
    proc = subprocess.Popen(
        ["openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{port}", "-msg"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out = _Output(proc)

    def send(line: bytes) -> bool:
        assert proc.stdin is not None
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
            return True
        except BrokenPipeError:
            return False

    def settled_after_r() -> bool:
        after = out.text().partition("RENEGOTIATING")[2]
        return out.ended() or bool(_REFUSED.search(after) or _SERVER_HELLO.search(after))

    try:
        if send(request):
            wait_until(lambda: out.ended() or _ANSWER in out.text(), S_CLIENT_TIMEOUT, "answer")
        if send(b"R\n"):
            wait_until(settled_after_r, S_CLIENT_TIMEOUT, "the renegotiation's outcome")
        if not out.ended() and send(request):
            wait_until(
                lambda: out.ended() or out.text().count(_ANSWER) >= 2,
                S_CLIENT_TIMEOUT,
                "an answer after the renegotiation",
            )
        assert proc.stdin is not None
        proc.stdin.close()  # s_client ends the connection at end of input
        proc.wait(S_CLIENT_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.join()
    text = out.text()
    before, _, after = text.partition("RENEGOTIATING")
    return Renegotiation(
        answers_before=before.count(_ANSWER),
        answers_after=after.count(_ANSWER),
        server_hellos=len(_SERVER_HELLO.findall(text)),
        refused_alert=bool(_REFUSED.search(text)),
        seconds=time.monotonic() - started,
        output=text,
    )
