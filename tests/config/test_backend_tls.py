"""``HTTPS`` in BackEnd and Emergency (issue 14 point 3): Pound 2's and Pound 4's forms,
and every error ``standby -c`` reports as ``FILE:LINE.COL: message``."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from standby.cli import main
from standby.config import ConfigError, load_config
from standby.model import DEFAULT_MIN_TLS, BackendSpec, TlsProtocol


def write_config(directory: Path, backend_lines: str, section: str = "BackEnd") -> Path:
    """A config whose only backend's body is ``backend_lines`` (from line 8)."""
    path = directory / "t.cfg"
    path.write_text(
        "ListenHTTP\n"
        "  Address 127.0.0.1\n"
        "  Port 8080\n"
        "  Service\n"
        f"    {section}\n"
        "      Address 127.0.0.1\n"
        "      Port 8443\n"
        + "".join(f"      {line}\n" for line in backend_lines.splitlines())
        + "    End\n  End\nEnd\n"
    )
    return path


def backend_of(directory: Path, lines: str, section: str = "BackEnd") -> BackendSpec:
    config = load_config(str(write_config(directory, lines, section)))
    service = config.listeners[0].services[0]
    return (service.backends or service.emergencies)[0]


def error_of(directory: Path, lines: str) -> str:
    path = write_config(directory, lines)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    return str(info.value).removeprefix(f"{path}:")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_pem(tmp_path: Path, ca: trustme.CA) -> Path:
    path = tmp_path / "client.pem"
    path.write_bytes(ca.issue_cert("proxy.test").private_key_and_cert_chain_pem.bytes())
    return path


def test_plain_https_is_pounds_default_no_verification_no_sni(tmp_path: Path) -> None:
    spec = backend_of(tmp_path, "HTTPS")
    assert spec.tls is not None
    assert (spec.tls.cert, spec.tls.server_name, spec.tls.verify) == (None, None, False)
    assert spec.tls.min_protocol is DEFAULT_MIN_TLS
    assert backend_of(tmp_path, "Priority 2").tls is None


def test_pound2_form_names_the_client_certificate(tmp_path: Path, client_pem: Path) -> None:
    spec = backend_of(tmp_path, 'HTTPS "client.pem"')  # relative to the config's directory
    assert spec.tls is not None and spec.tls.cert == str(client_pem)


def test_pound4_form(tmp_path: Path, client_pem: Path, ca: trustme.CA) -> None:
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    lines = (
        'HTTPS\nCert "client.pem"\nServerName "app.internal"\nCAlist "ca.pem"\n'
        'Ciphers "ECDHE+AESGCM"\nDisable TLSv1_2'
    )
    spec = backend_of(tmp_path, lines, section="Emergency")
    assert spec.tls is not None
    assert spec.tls.cert == str(client_pem)
    assert spec.tls.server_name == "app.internal"
    assert spec.tls.verify and spec.tls.ca_pem == ca.cert_pem.bytes()
    assert spec.tls.ciphers == "ECDHE+AESGCM"
    assert spec.tls.min_protocol is TlsProtocol.TLSv1_3  # Disable TLSv1_2: 1.3 only


@pytest.mark.parametrize(
    ("word", "oldest"),
    [
        ("SSLv2", TlsProtocol.SSLv3),
        ("TLSv1", TlsProtocol.TLSv1_1),
        ("tlsv1_1", TlsProtocol.TLSv1_2),
    ],
)
def test_disable_sets_the_oldest_protocol_allowed(
    tmp_path: Path, word: str, oldest: TlsProtocol
) -> None:
    spec = backend_of(tmp_path, f"HTTPS\nDisable {word}")
    assert spec.tls is not None and spec.tls.min_protocol is oldest


def test_tls_on_or_off_is_part_of_the_identity_other_settings_are_not(tmp_path: Path) -> None:
    plain = backend_of(tmp_path, "Priority 2")
    https = backend_of(tmp_path, "HTTPS")
    named = backend_of(tmp_path, 'HTTPS\nServerName "a.test"')
    assert plain.identity != https.identity
    assert https.identity == named.identity
    assert https.tls != named.tls


def _bad_pem(tmp_path: Path, ca: trustme.CA, case: str) -> None:
    path = tmp_path / "client.pem"
    leaf = ca.issue_cert("proxy.test")
    other = ca.issue_cert("other.test")
    if case == "garbage":
        path.write_bytes(b"not a certificate\n")
    elif case == "no-key":
        path.write_bytes(leaf.cert_chain_pems[0].bytes())
    elif case == "mismatch":
        path.write_bytes(other.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes())
    elif case == "chain-first":
        path.write_bytes(
            leaf.private_key_pem.bytes() + ca.cert_pem.bytes() + leaf.cert_chain_pems[0].bytes()
        )
    elif case == "unreadable":
        path.mkdir()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", '{at}: cannot read "{path}": No such file or directory'),
        ("unreadable", '{at}: cannot read "{path}": Is a directory'),
        ("garbage", '{at}: no PEM certificate in "{path}"'),
        ("no-key", '{at}: no private key in "{path}" (it must hold the key too)'),
        ("mismatch", '{at}: the private key in "{path}" does not match its certificate'),
        (
            "chain-first",
            '{at}: the certificate of the private key in "{path}" must come before the '
            "other certificates (the chain)",
        ),
    ],
)
def test_a_bad_client_certificate_is_a_config_error(
    tmp_path: Path, ca: trustme.CA, case: str, message: str
) -> None:
    if case != "missing":
        _bad_pem(tmp_path, ca, case)
    path = tmp_path / "client.pem"
    assert error_of(tmp_path, 'HTTPS\nCert "client.pem"') == message.format(at="9.12", path=path)
    # Pound 2's form: the same file given on the HTTPS line.
    assert error_of(tmp_path, 'HTTPS "client.pem"') == message.format(at="8.13", path=path)


def test_an_encrypted_key_is_refused(tmp_path: Path, ca: trustme.CA) -> None:
    from cryptography.hazmat.primitives import serialization

    leaf = ca.issue_cert("proxy.test")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (tmp_path / "client.pem").write_bytes(encrypted + leaf.cert_chain_pems[0].bytes())
    path = tmp_path / "client.pem"
    assert error_of(tmp_path, 'HTTPS\nCert "client.pem"') == (
        f'9.12: the private key in "{path}" is encrypted (not supported)'
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('ServerName "a"\nHTTPS', '8.7: "ServerName" must come after "HTTPS"'),
        ("Disable TLSv1", '8.7: "Disable" must come after "HTTPS"'),
        ('Ciphers "HIGH"', '8.7: "Ciphers" must come after "HTTPS"'),
        ('CAlist "ca.pem"', '8.7: "CAlist" must come after "HTTPS"'),
        ("HTTPS\nDisable TLSv1_3", '9.15: bad protocol "TLSv1_3" for "Disable" '
         "(use sslv2 or sslv3 or tlsv1 or tlsv1_1 or tlsv1_2)"),
        ('HTTPS\nCAlist "nothing.pem"', '9.14: cannot read "{dir}/nothing.pem": '
         "No such file or directory"),
    ],
)  # fmt: skip
def test_https_option_errors(tmp_path: Path, lines: str, message: str) -> None:
    assert error_of(tmp_path, lines) == message.format(dir=tmp_path)


def test_a_client_certificate_given_twice(tmp_path: Path, client_pem: Path) -> None:
    path = write_config(tmp_path, 'HTTPS "client.pem"\nCert "client.pem"')
    assert error_of(tmp_path, 'HTTPS "client.pem"\nCert "client.pem"') == (
        f'9.7: a client certificate is already given by "HTTPS" at {path}:8.7'
    )


def test_a_ca_list_without_certificates(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("nothing here\n")
    assert error_of(tmp_path, 'HTTPS\nCAlist "ca.pem"') == (
        f'9.14: no PEM certificate in "{tmp_path}/ca.pem"'
    )


def test_standby_c_reports_a_bad_client_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, 'HTTPS\nCert "missing.pem"')
    assert main(["-c", "-f", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f'{path}:9.12: cannot read "{tmp_path}/missing.pem": No such file or directory'


def test_the_documented_example_loads(tmp_path: Path, client_pem: Path, ca: trustme.CA) -> None:
    from standby.config import load_config_text
    from standby.config.docgen import HTTPS_EXAMPLE

    ca.cert_pem.write_to_path(str(tmp_path / "internal-ca.pem"))
    config = load_config_text(HTTPS_EXAMPLE, "example.cfg", str(tmp_path))
    service = config.listeners[0].services[0]
    regular, emergency = service.backends[0], service.emergencies[0]
    assert regular.tls is not None and regular.tls.verify and regular.tls.cert == str(client_pem)
    assert emergency.tls is not None and not emergency.tls.verify
