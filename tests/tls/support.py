"""Certificates and TLS clients for the HTTPS listener tests (loopback only)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import trustme

from tests.support.harness import DEADLINE, Client


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
