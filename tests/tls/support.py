"""Certificates and TLS clients for the HTTPS listener tests (loopback only)."""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import trustme

from tests.support.harness import DEADLINE, Client, wait_until


def write_cert(ca: trustme.CA, path: Path, *names: str, **kw: object) -> Path:
    """A PEM file with key, certificate and chain for ``names``, as a ``Cert`` takes it."""
    cert = ca.issue_cert(*names, **kw)  # type: ignore[arg-type]
    path.write_bytes(cert.private_key_and_cert_chain_pem.bytes())
    path.chmod(0o600)
    return path


def client_context(ca: trustme.CA, **kw: object) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    for key, value in kw.items():
        setattr(ctx, key, value)
    return ctx


class TlsClient(Client):
    """The harness's strict client over TLS."""

    def __init__(
        self,
        port: int,
        ctx: ssl.SSLContext,
        server_name: str | None = "www.example.com",
        timeout: float = DEADLINE,
    ) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=server_name)
        self.buf = b""

    @property
    def tls(self) -> ssl.SSLSocket:
        assert isinstance(self.sock, ssl.SSLSocket)
        return self.sock

    def peer_names(self) -> list[str]:
        cert = self.tls.getpeercert()
        assert cert is not None
        return [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]


def https_config(backend_port: int, certs: list[Path], extra: str = "") -> str:
    cert_lines = "".join(f'  Cert "{path}"\n' for path in certs)
    return (
        "ListenHTTPS\n  Address 127.0.0.1\n  Port {L0}\n"
        + cert_lines
        + extra
        + "  Service\n    BackEnd\n      Address 127.0.0.1\n"
        + f"      Port {backend_port}\n    End\n  End\nEnd\n"
    )


STANDBY = Path(sys.executable).with_name("standby")
NAME = "www.example.com"  # the server name the tests' certificates answer


def handshake_names(port: int, ctx: ssl.SSLContext, server_name: str | None) -> list[str] | None:
    """The DNS names of the certificate a new connection gets; None if it fails."""
    try:
        with TlsClient(port, ctx, server_name=server_name, timeout=5.0) as client:
            return client.peer_names()
    except (OSError, ssl.SSLError):
        return None


@contextlib.contextmanager
def standby_process(
    config: Path, port: int, ctx: ssl.SSLContext
) -> Iterator[subprocess.Popen[bytes]]:
    """The installed ``standby`` (default worker count) on ``config``, in the foreground
    and logging to stderr, until it answers a TLS handshake on ``port``; stopped after."""
    proc = subprocess.Popen(
        [str(STANDBY), "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_until(
            lambda: proc.poll() is not None or handshake_names(port, ctx, NAME) is not None,
            what="standby to answer TLS",
        )
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
