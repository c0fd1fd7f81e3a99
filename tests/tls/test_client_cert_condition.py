"""Pound 4's `ClientCert "file"` service condition on real TLS connections: a client that
presents a certificate of the file reaches its service, one without reaches the next; and
the places Pound refuses it (outside a ListenHTTPS, beside the listener's own ClientCert,
in a global Service) are refused at load."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from standby.config import ConfigError, load_config_text
from tests.support.backend import Backend
from tests.support.harness import running_proxy
from tests.tls.support import TlsClient, client_context, write_cert


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def config(server: Path, admin_file: Path, admin_port: int, public_port: int) -> str:
    return f"""
ListenHTTPS
  Address 127.0.0.1
  Port {{L0}}
  Cert "{server}"
  Service
    ClientCert "{admin_file}"
    BackEnd
      Address 127.0.0.1
      Port {admin_port}
    End
  End
  Service
    BackEnd
      Address 127.0.0.1
      Port {public_port}
    End
  End
End
"""


def body_of(port: int, ctx: ssl.SSLContext) -> bytes:
    with TlsClient(port, ctx) as client:
        response = client.request("/")
        assert response.status == 200
        return response.body


def test_the_certificate_of_the_file_chooses_its_service(ca: trustme.CA, tmp_path: Path) -> None:
    server = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    admin = ca.issue_cert("admin@example.com")
    admin_file = tmp_path / "admin.crt"  # the certificate alone, as Pound's examples have it
    admin.cert_chain_pems[0].write_to_path(str(admin_file))
    other = ca.issue_cert("other@example.com")
    with (
        Backend("admin") as admin_backend,
        Backend("public") as public_backend,
        running_proxy(config(server, admin_file, admin_backend.port, public_backend.port)) as proxy,
    ):
        anonymous = client_context(ca)
        assert body_of(proxy.port, anonymous) == b"public"
        with_admin = client_context(ca)
        admin.configure_cert(with_admin)
        assert body_of(proxy.port, with_admin) == b"admin"
        assert body_of(proxy.port, anonymous) == b"public"  # nothing kept between clients
        # Another certificate cannot be asked for without verification in Python's ssl: it
        # fails the handshake (Pound serves it without a match; docs/configuration.md).
        with_other = client_context(ca)
        other.configure_cert(with_other)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            body_of(proxy.port, with_other)
        assert body_of(proxy.port, with_admin) == b"admin"


def test_not_client_cert_turns_it_round(ca: trustme.CA, tmp_path: Path) -> None:
    server = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    admin = ca.issue_cert("admin@example.com")
    admin_file = tmp_path / "admin.crt"
    admin.cert_chain_pems[0].write_to_path(str(admin_file))
    text = config(server, admin_file, 0, 0).replace("ClientCert", "Not ClientCert", 1)
    with (
        Backend("outsider") as outsider,
        Backend("member") as member,
        running_proxy(
            text.replace("Port 0", f"Port {outsider.port}", 1).replace(
                "Port 0", f"Port {member.port}", 1
            )
        ) as proxy,
    ):
        assert body_of(proxy.port, client_context(ca)) == b"outsider"
        with_admin = client_context(ca)
        admin.configure_cert(with_admin)
        assert body_of(proxy.port, with_admin) == b"member"


SERVICE = (
    '  Service\n    ClientCert "{cert}"\n    BackEnd\n      Address 127.0.0.1\n    End\n  End\n'
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n" + SERVICE + "End\n",
            '"ClientCert" as a condition needs a Service inside a ListenHTTPS',
        ),
        (
            'ListenHTTPS\n  Address 127.0.0.1\n  Port 8443\n  Cert "{server}"\n'
            '  ClientCert 1\n  VerifyList "{cert}"\n' + SERVICE + "End\n",
            '"ClientCert" as a condition cannot be used where the ListenHTTPS has a '
            '"ClientCert" directive',
        ),
        (
            SERVICE.replace("  ", "", 1)
            + 'ListenHTTPS\n  Address 127.0.0.1\n  Port 8443\n  Cert "{server}"\nEnd\n',
            '"ClientCert" as a condition needs a Service inside a ListenHTTPS',
        ),
        (
            'ListenHTTPS\n  Address 127.0.0.1\n  Port 8443\n  Cert "{server}"\n'
            + SERVICE.replace("{cert}", "{server}.missing")
            + "End\n",
            "cannot read certificate file",
        ),
    ],
)
def test_where_pound_refuses_it_standby_does(
    ca: trustme.CA, tmp_path: Path, text: str, message: str
) -> None:
    server = write_cert(ca, tmp_path / "www.pem", "www.example.com")
    cert = tmp_path / "admin.crt"
    ca.issue_cert("admin@example.com").cert_chain_pems[0].write_to_path(str(cert))
    with pytest.raises(ConfigError) as info:
        load_config_text(text.format(server=server, cert=cert))
    assert message in info.value.message
