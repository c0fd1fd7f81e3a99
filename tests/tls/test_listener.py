"""An HTTPS listener in process: handshake, certificate choice, what the backend sees."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from tests.support.backend import Backend
from tests.support.harness import running_proxy
from tests.tls.support import TlsClient, client_context, https_config, write_cert


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def test_https_request_reaches_the_backend_with_proto_https(ca: trustme.CA, tmp_path: Path) -> None:
    cert = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    with (
        Backend("b") as backend,
        running_proxy(https_config(backend.port, [cert])) as proxy,
        TlsClient(proxy.port, client_context(ca)) as client,
    ):
        response = client.request("/echo")
        assert response.status == 200
        assert b"\r\nX-Forwarded-Proto: https\r\n" in response.body
        # keep-alive over TLS: a second request on the same connection
        assert client.request("/echo").status == 200
        assert client.tls.selected_alpn_protocol() in (None, "http/1.1")
        assert client.tls.version() in ("TLSv1.2", "TLSv1.3")


def test_sni_chooses_exact_wildcard_and_default(ca: trustme.CA, tmp_path: Path) -> None:
    default = write_cert(ca, tmp_path / "default.pem", "default.test")
    exact = write_cert(ca, tmp_path / "exact.pem", "www.example.com")
    wild = write_cert(ca, tmp_path / "wild.pem", "*.example.org")
    config = https_config(1, [default, exact, wild])
    no_check = client_context(ca, check_hostname=False)
    with running_proxy(config) as proxy:
        cases = {
            "www.example.com": ["www.example.com"],
            "WWW.Example.COM": ["www.example.com"],
            "a.example.org": ["*.example.org"],
            "a.b.example.org": ["default.test"],  # a wildcard covers one label only
            "example.org": ["default.test"],
            "unknown.test": ["default.test"],
            None: ["default.test"],
        }
        for name, expected in cases.items():
            with TlsClient(proxy.port, no_check, server_name=name) as client:
                assert client.peer_names() == expected, name


def test_disable_tls12_leaves_tls13_only(ca: trustme.CA, tmp_path: Path) -> None:
    cert = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    config = https_config(1, [cert], "  Disable TLSv1_2\n")
    with running_proxy(config) as proxy:
        tls12 = client_context(ca, maximum_version=ssl.TLSVersion.TLSv1_2)
        with pytest.raises(ssl.SSLError):
            TlsClient(proxy.port, tls12).close()
        with TlsClient(proxy.port, client_context(ca)) as client:
            assert client.tls.version() == "TLSv1.3"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls11_is_refused_by_default(ca: trustme.CA, tmp_path: Path) -> None:
    cert = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    with running_proxy(https_config(1, [cert], "  Disable SSLv3\n")) as proxy:
        old = client_context(ca)
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, ConnectionError)):
            TlsClient(proxy.port, old).close()
