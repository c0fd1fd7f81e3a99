"""An HTTPS listener in process: handshake, certificate choice, what the backend sees."""

from __future__ import annotations

import ssl
import subprocess
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


def _openssl(cert_pem: bytes, *args: str) -> str:
    """What the openssl command prints for ``cert_pem`` (an independent oracle)."""
    out = subprocess.run(
        ["openssl", "x509", "-noout", *args], input=cert_pem, capture_output=True, check=True
    )
    return out.stdout.decode().strip()


def _fields(echoed: bytes) -> dict[bytes, bytes]:
    lines = echoed.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]
    return {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}


def test_client_certificate_headers_as_pound_sends_them(ca: trustme.CA, tmp_path: Path) -> None:
    server = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    person = ca.issue_cert(
        "alice@example.com", common_name="Alice, Example", organization_name="Ex+ample"
    )
    extra = f'  ClientCert 1 3\n  VerifyList "{tmp_path / "ca.pem"}"\n'
    ctx = client_context(ca)
    person.configure_cert(ctx)
    forged = "X-SSL-Subject: CN = mallory\r\nx-ssl-CERTIFICATE: forged\r\n"
    with (
        Backend("b") as backend,
        running_proxy(https_config(backend.port, [server], extra)) as proxy,
        TlsClient(proxy.port, ctx) as client,
    ):
        response = client.request("/echo", headers=forged)
        cipher = client.tls.cipher()
        version = client.tls.version()
    fields = _fields(response.body)
    pem = person.cert_chain_pems[0].bytes()
    expected_subject = _openssl(pem, "-subject", "-nameopt", "oneline,-esc_msb")
    assert b"subject=" + fields[b"x-ssl-subject"] == expected_subject.encode()
    expected_issuer = _openssl(pem, "-issuer", "-nameopt", "oneline,-esc_msb")
    assert b"issuer=" + fields[b"x-ssl-issuer"] == expected_issuer.encode()
    assert b"notBefore=" + fields[b"x-ssl-notbefore"] == _openssl(pem, "-startdate").encode()
    assert b"notAfter=" + fields[b"x-ssl-notafter"] == _openssl(pem, "-enddate").encode()
    serial = int(_openssl(pem, "-serial").partition("=")[2], 16)
    assert fields[b"x-ssl-serial"] == str(serial).encode()
    assert fields[b"x-ssl-certificate"] == b" ".join(pem.split())
    assert cipher is not None and version is not None
    assert fields[b"x-ssl-cipher"].startswith(f"{version}/{cipher[0]} ".encode())
    # What the client sent under those names never reaches the backend.
    assert b"mallory" not in response.body and b"forged" not in response.body
    assert response.body.lower().count(b"\r\nx-ssl-subject:") == 1


def test_no_client_certificate_means_cipher_line_only(ca: trustme.CA, tmp_path: Path) -> None:
    server = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    forged = "X-Ssl-Issuer: forged\r\n"
    with (
        Backend("b") as backend,
        running_proxy(https_config(backend.port, [server])) as proxy,
        TlsClient(proxy.port, client_context(ca)) as client,
    ):
        fields = _fields(client.request("/echo", headers=forged).body)
    assert [k for k in fields if k.startswith(b"x-ssl-")] == [b"x-ssl-cipher"]


def test_required_client_certificate_refuses_a_client_without(
    ca: trustme.CA, tmp_path: Path
) -> None:
    server = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    extra = f'  ClientCert 2\n  VerifyList "{tmp_path / "ca.pem"}"\n'
    with (
        running_proxy(https_config(1, [server], extra)) as proxy,
        pytest.raises((ssl.SSLError, ConnectionError)),
        TlsClient(proxy.port, client_context(ca)) as client,
    ):
        client.request("/")  # TLS 1.3: the refusal arrives with the first read


def test_location_is_rewritten_to_https(ca: trustme.CA, tmp_path: Path) -> None:
    server = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    with (
        Backend("b") as backend,
        running_proxy(https_config(backend.port, [server])) as proxy,
        TlsClient(proxy.port, client_context(ca)) as client,
    ):
        response = client.request("/location", host="www.example.com")
    assert response.header(b"location") == b"https://www.example.com/moved"


@pytest.mark.parametrize(
    ("mode", "agent", "kept"),
    [
        (0, "MSIE 6.0", True),
        (1, "curl", False),
        (2, "Mozilla/4.0 (MSIE 6.0)", False),
        (2, "curl", True),
    ],
)
def test_no_https11(ca: trustme.CA, tmp_path: Path, mode: int, agent: str, kept: bool) -> None:
    server = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    extra = f"  NoHTTPS11 {mode}\n"
    with (
        Backend("b") as backend,
        running_proxy(https_config(backend.port, [server], extra)) as proxy,
        TlsClient(proxy.port, client_context(ca)) as client,
    ):
        response = client.request("/", headers=f"User-Agent: {agent}\r\n")
        assert response.status == 200
        assert (response.header(b"connection") != b"close") is kept
        if not kept:
            assert client.closed_by_peer()
