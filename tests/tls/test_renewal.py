"""Certificates change without a restart (the installed program, default worker count):
a changed file is watched and swapped in, a reload picks up a new one, open keep-alive
connections carry on, and a broken new file keeps the old certificate serving."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import trustme

from tests.support.backend import Backend
from tests.support.harness import free_port, wait_until
from tests.tls.support import (
    TlsClient,
    client_context,
    handshake_names,
    https_config,
    standby_process,
    write_cert,
)

# New connections that must all see the new certificate: with several workers, each
# polls its files by itself, and a connection lands on any of them.
CONSECUTIVE = 8


def _replace(path: Path, data: bytes) -> None:
    """As an ACME client or certbot hook should: a temporary file renamed over the name."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    os.replace(tmp, path)


def _all_new(port: int, ca: trustme.CA, expected: list[str]) -> bool:
    ctx = client_context(ca, check_hostname=False)
    return all(
        handshake_names(port, ctx, "www.example.com") == expected for _ in range(CONSECUTIVE)
    )


def test_changed_file_is_swapped_in_and_a_broken_one_is_not(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = write_cert(ca, tmp_path / "site.pem", "www.example.com", "old.example.com")
    port = free_port()
    with Backend("b") as backend:
        config = tmp_path / "standby.cfg"
        text = https_config(backend.port, [cert]).replace("{L0}", str(port))
        config.write_text("LogLevel 0\n" + text)
        ctx = client_context(ca)
        with standby_process(config, port, ctx) as proc, TlsClient(port, ctx) as kept:
            assert kept.request("/").status == 200
            assert kept.peer_names() == ["www.example.com", "old.example.com"]
            # The file changes by itself: no reload.
            renewed = ca.issue_cert("www.example.com", "new.example.com")
            _replace(cert, renewed.private_key_and_cert_chain_pem.bytes())
            wait_until(
                lambda: _all_new(port, ca, ["www.example.com", "new.example.com"]),
                what="the renewed certificate to serve",
            )
            # The connection opened before goes on, with the certificate it was given.
            assert kept.request("/").status == 200
            assert kept.peer_names() == ["www.example.com", "old.example.com"]
            # A broken file (a key that matches nothing) keeps the last good one serving.
            other = trustme.CA().issue_cert("www.example.com", "bad.example.com")
            broken = other.private_key_pem.bytes() + renewed.cert_chain_pems[0].bytes()
            _replace(cert, broken)
            # A reload refuses it too (the file is checked as `standby -c` does) and the
            # running configuration, certificate included, goes on serving.
            proc.send_signal(signal.SIGHUP)
            third = ca.issue_cert("www.example.com", "third.example.com")
            assert _all_new(port, ca, ["www.example.com", "new.example.com"])
            assert kept.request("/").status == 200
            # A good file after the broken one is taken again; so is one a reload finds.
            _replace(cert, third.private_key_and_cert_chain_pem.bytes())
            wait_until(
                lambda: _all_new(port, ca, ["www.example.com", "third.example.com"]),
                what="the next good certificate to serve",
            )
            assert kept.request("/").status == 200
            assert proc.poll() is None
