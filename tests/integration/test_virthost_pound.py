"""HTTPS virtual hosts and `ClientCert` without a CA file, as Pound 4.23 does them (issue 15;
Pound's testsuite group virthost): Pound takes `ClientCert 1` or `2` without a `VerifyList`
or `CAlist` and verifies against an empty store, so with `1` a client that sends no
certificate is served and one that sends a certificate fails the handshake, and with `2`
no client gets through (Pound 4.23 run with curl, with and without `--cert`)."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
import trustme
from tests.support.backend import Backend
from tests.support.harness import running_proxy
from tests.tls.support import TlsClient, client_context, write_cert

from standby.config import load_config


def virtual_hosts(cert: Path, org: int, com: int, client_cert: str) -> str:
    # Pound's layout: the services at top level, before the HTTPS listener that uses them.
    return f"""
Service
  Header "Host:[[:space:]]*www\\\\.example\\\\.org"
  BackEnd
    Address 127.0.0.1
    Port {org}
  End
End
Service
  Header "Host:[[:space:]]*www\\\\.example\\\\.com"
  BackEnd
    Address 127.0.0.1
    Port {com}
  End
End
ListenHTTPS
  Address 127.0.0.1
  Port {{L0}}
  Cert "{cert}"
  {client_cert}
End
"""


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def test_virtual_hosts_behind_one_certificate_with_client_cert_1_and_no_ca(
    ca: trustme.CA, tmp_path: Path
) -> None:
    cert = write_cert(ca, tmp_path / "example.pem", "www.example.org", "www.example.com")
    with (
        Backend("org") as org,
        Backend("com") as com,
        running_proxy(virtual_hosts(cert, org.port, com.port, "ClientCert 1 1")) as proxy,
    ):
        for name, backend in (("www.example.com", com), ("www.example.org", org)):
            with TlsClient(proxy.port, client_context(ca), server_name=name) as client:
                r = client.request("/echo/foo/bar", host=name)
                assert r.status == 200 and r.header(b"x-backend") == backend.name.encode()
                assert r.body.startswith(b"GET /echo/foo/bar HTTP/1.1\r\n")
        # A certificate sent cannot be verified (there is no CA to verify it with).
        person = ca.issue_cert("alice@example.com")
        with_cert = client_context(ca)
        person.configure_cert(with_cert)
        with (
            pytest.raises((ssl.SSLError, ConnectionError)),
            TlsClient(proxy.port, with_cert) as client,
        ):
            client.request("/echo/x", host="www.example.com")  # TLS 1.3: refused at a read
        with TlsClient(proxy.port, client_context(ca)) as client:  # still serving
            assert client.request("/", host="www.example.com").status == 200


def test_client_cert_2_without_a_ca_lets_no_client_through(ca: trustme.CA, tmp_path: Path) -> None:
    cert = write_cert(ca, tmp_path / "example.pem", "www.example.com")
    person = ca.issue_cert("alice@example.com")
    with_cert = client_context(ca)
    person.configure_cert(with_cert)
    with Backend("b") as b, running_proxy(virtual_hosts(cert, b.port, b.port, "ClientCert 2")) as p:
        for ctx in (client_context(ca), with_cert):
            with (
                pytest.raises((ssl.SSLError, ConnectionError)),
                TlsClient(p.port, ctx) as client,
            ):
                client.request("/", host="www.example.com")
        assert b.requests == 0


@pytest.mark.parametrize(
    ("mode", "consequence"), [(1, "one that sends none is served"), (2, "no client can connect")]
)
def test_client_cert_without_a_ca_loads_with_a_warning(
    ca: trustme.CA, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, consequence: str
) -> None:
    cert = write_cert(ca, tmp_path / "example.pem", "www.example.com")
    path = tmp_path / "pound.cfg"
    path.write_text(virtual_hosts(cert, 1, 2, f"ClientCert {mode} 1").replace("{L0}", "1"))
    with caplog.at_level(logging.WARNING):
        config = load_config(str(path))
    tls = config.listeners[0].tls
    assert tls is not None and tls.client_cert == mode and tls.verify_list is None
    assert f'{path}:20.3: "ClientCert {mode}" without a "VerifyList" or "CAlist"' in caplog.text
    assert consequence in caplog.text
