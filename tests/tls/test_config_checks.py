"""``ListenHTTPS``'s configuration checks and forms (issue 14 points 1 and 6), proved on
real files made here: what the installed ``standby -c`` reports as ``FILE:LINE.COL``,
Pound 4's directory and glob forms of ``Cert`` with SNI choosing among them, ``Ciphers``
in force, and a reload that changes a listener's TLS settings."""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
import subprocess
from pathlib import Path

import pytest
import trustme

from standby.config import ConfigError, load_config_text
from standby.tls.context import check_settings
from tests.support.backend import Backend
from tests.support.harness import ProxyThread, running_proxy
from tests.tls.support import (
    STANDBY,
    TlsClient,
    client_context,
    handshake_names,
    https_config,
    write_cert,
)

RUN_TIMEOUT = 60.0  # generous bound for a short-lived `standby -c`
CERT_LINE = 4  # the line of the `Cert` keyword in `listener` below
EXTRA_LINE = 5  # the line of the first extra keyword
KEYWORD_COL = 3  # every keyword is indented by two spaces
# One ECDSA (trustme's default key type) TLS 1.2 suite in the list, one outside it.
ALLOWED = "ECDHE-ECDSA-AES128-GCM-SHA256"
REFUSED = "ECDHE-ECDSA-AES256-GCM-SHA384"


def listener(cert: str, extra: str = "") -> str:
    """A config whose `Cert` is on line 4 and whose ``extra`` lines start on line 5."""
    return (
        "ListenHTTPS\n  Address 127.0.0.1\n  Port 8443\n"
        f'  Cert "{cert}"\n'
        + "".join(f"  {line}\n" for line in extra.splitlines())
        + "  Service\n    BackEnd\n      Address 127.0.0.1\n      Port 8080\n    End\n"
        # An Emergency: `standby -c` advises against a lone backend (issue 16).
        + "    Emergency\n      Address 127.0.0.1\n      Port 8081\n    End\n  End\nEnd\n"
    )


def check(tmp_path: Path, text: str) -> tuple[int, str, Path]:
    """Run the installed ``standby -c -f FILE``: exit status, stderr, the file."""
    path = tmp_path / "standby.cfg"
    path.write_text(text)
    done = subprocess.run(
        [str(STANDBY), "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stderr, path


def error_at(tmp_path: Path, text: str, line: int) -> str:
    """`standby -c` fails with one line ``FILE:LINE.COL: message``; returns the message."""
    status, err, path = check(tmp_path, text)
    assert status == 1, err
    prefix = f"{path}:{line}.{KEYWORD_COL}: "
    assert err.startswith(prefix), err
    assert err.count("\n") == 1, err  # one line, no traceback
    return err.removeprefix(prefix).strip()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def good(ca: trustme.CA, tmp_path: Path) -> Path:
    return write_cert(ca, tmp_path / "www.pem", "www.example.com")


# -- 1: certificate files `standby -c` refuses, at the Cert keyword -------------------------


def test_a_good_certificate_checks_silently(tmp_path: Path, good: Path) -> None:
    assert check(tmp_path, listener(str(good)))[:2] == (0, "")


def test_missing_certificate_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.pem"
    message = error_at(tmp_path, listener(str(missing)), CERT_LINE)
    assert message == f'cannot read "{missing}": No such file or directory'


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode 000 file")
def test_unreadable_certificate_file(tmp_path: Path, good: Path) -> None:
    good.chmod(0)
    message = error_at(tmp_path, listener(str(good)), CERT_LINE)
    assert message == f'cannot read "{good}": Permission denied'


def test_unreadable_whoever_runs_it(tmp_path: Path, good: Path) -> None:
    """Files nobody can read, root included: a path through a file, a symbolic link
    loop, and a FIFO (which must not hang the check waiting for a writer)."""
    through = f"{good}/www.pem"
    message = error_at(tmp_path, listener(through), CERT_LINE)
    assert message == f'cannot read "{through}": Not a directory'
    loop = tmp_path / "loop.pem"
    loop.symlink_to(loop)
    message = error_at(tmp_path, listener(str(loop)), CERT_LINE)
    assert message == f'cannot read "{loop}": Too many levels of symbolic links'
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    message = error_at(tmp_path, listener(str(fifo)), CERT_LINE)
    assert message == f'cannot read "{fifo}": not a regular file'


def test_every_file_of_a_directory_form_is_checked(tmp_path: Path, ca: trustme.CA) -> None:
    """Every regular file of a `Cert "dir/"` is checked (a broken one is named); a FIFO
    there is passed over, not waited on."""
    certs = tmp_path / "certs"
    certs.mkdir()
    write_cert(ca, certs / "a.pem", "a.example.com")
    os.mkfifo(certs / "b.pem")
    assert check(tmp_path, listener(f"{certs}/"))[:2] == (0, "")
    (certs / "c.pem").write_bytes(ca.issue_cert("c.example.com").cert_chain_pems[0].bytes())
    message = error_at(tmp_path, listener(f"{certs}/"), CERT_LINE)
    assert message.startswith(f'"{certs}/c.pem": no private key in the file')


def test_malformed_pem(tmp_path: Path, ca: trustme.CA) -> None:
    leaf = ca.issue_cert("www.example.com")
    broken = tmp_path / "broken.pem"
    broken.write_bytes(
        leaf.private_key_pem.bytes()
        + b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    )
    message = error_at(tmp_path, listener(str(broken)), CERT_LINE)
    assert message.startswith(f'"{broken}": a certificate does not decode')
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"this is no PEM at all\n")
    message = error_at(tmp_path, listener(str(garbage)), CERT_LINE)
    assert message.startswith(f'"{garbage}": no private key in the file')


def test_certificate_without_key(tmp_path: Path, ca: trustme.CA) -> None:
    only = tmp_path / "only-cert.pem"
    only.write_bytes(ca.issue_cert("www.example.com").cert_chain_pems[0].bytes())
    message = error_at(tmp_path, listener(str(only)), CERT_LINE)
    assert message.startswith(f'"{only}": no private key in the file')


def test_key_that_does_not_match_its_certificate(tmp_path: Path, ca: trustme.CA) -> None:
    mine = ca.issue_cert("www.example.com")
    other = ca.issue_cert("www.example.com")
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(other.private_key_pem.bytes() + mine.cert_chain_pems[0].bytes())
    message = error_at(tmp_path, listener(str(mixed)), CERT_LINE)
    assert message == f'"{mixed}": the private key matches none of the certificates in the file'


def test_expired_certificate_is_a_warning(tmp_path: Path, ca: trustme.CA) -> None:
    now = datetime.datetime.now(datetime.UTC)
    old = write_cert(
        ca,
        tmp_path / "old.pem",
        "www.example.com",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    status, err, path = check(tmp_path, listener(str(old)))
    assert status == 0, err
    assert f"{path}:{CERT_LINE}.{KEYWORD_COL}: warning: the certificate in " in err
    assert f'"{old}" expired on ' in err


# -- 3: settings OpenSSL refuses are `standby -c` errors at their keyword ------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('Ciphers "NO-SUCH-CIPHER"', 'OpenSSL knows no cipher in "NO-SUCH-CIPHER"'),
        ('ECDHcurve "no-such-curve"', 'OpenSSL knows no curve "no-such-curve"'),
        ('ECDHcurve "RSA"', 'OpenSSL knows no curve "RSA"'),  # an OpenSSL name, not a curve
    ],
)
def test_settings_openssl_refuses(tmp_path: Path, good: Path, extra: str, expected: str) -> None:
    assert error_at(tmp_path, listener(str(good), extra), EXTRA_LINE) == expected


def test_dh_params_openssl_refuses(tmp_path: Path, good: Path) -> None:
    dh = tmp_path / "dh.pem"
    dh.write_bytes(b"-----BEGIN DH PARAMETERS-----\nbm90IERI\n-----END DH PARAMETERS-----\n")
    message = error_at(tmp_path, listener(str(good), f'DHParams "{dh}"'), EXTRA_LINE)
    assert message.startswith(f'cannot load "{dh}": '), message


def test_good_settings_check_and_compile(tmp_path: Path, good: Path) -> None:
    extra = f'Ciphers "{ALLOWED}"\nECDHcurve "prime256v1"'
    assert check(tmp_path, listener(str(good), extra))[:2] == (0, "")
    spec = load_config_text(listener(str(good), extra)).listeners[0].tls
    assert spec is not None
    assert (spec.ciphers, spec.ecdh_curve) == (ALLOWED, "prime256v1")


def test_compile_in_process_reports_the_same(tmp_path: Path, good: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(
            listener(str(good), 'Ciphers "NO-SUCH-CIPHER"'), "x.cfg", check_tls=check_settings
        )
    assert str(info.value).startswith(f"x.cfg:{EXTRA_LINE}.{KEYWORD_COL}: ")
    with pytest.raises(ConfigError) as info:
        load_config_text(listener(str(tmp_path / "none.pem")), "x.cfg")
    assert str(info.value).startswith(f"x.cfg:{CERT_LINE}.{KEYWORD_COL}: cannot read ")


# -- 2: Pound 4's directory and glob forms, SNI choosing among them ------------------------


def test_directory_and_glob_forms_load_and_sni_picks(tmp_path: Path, ca: trustme.CA) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    write_cert(ca, whole / "a-default.pem", "default.test")
    write_cert(ca, whole / "b-www.pem", "www.example.com")
    (whole / "sub").mkdir()  # a directory inside is not a certificate
    some = tmp_path / "some"
    some.mkdir()
    write_cert(ca, some / "wild.pem", "*.example.org")
    write_cert(ca, some / "api.pem", "api.example.net")
    (some / "README.txt").write_text("not a certificate: the glob leaves it out\n")
    text = https_config(1, [Path(f"{whole}/"), some / "*.pem"])
    config = load_config_text(text.replace("{L0}", "8443"))
    tls = config.listeners[0].tls
    assert tls is not None
    assert [Path(c.path).name for c in tls.certs] == [
        "a-default.pem",
        "b-www.pem",
        "api.pem",
        "wild.pem",
    ]
    ctx = client_context(ca, check_hostname=False)
    with running_proxy(https_config(1, [Path(f"{whole}/"), some / "*.pem"])) as proxy:
        cases = {
            "www.example.com": ["www.example.com"],
            "x.example.org": ["*.example.org"],
            "api.example.net": ["api.example.net"],
            "other.test": ["default.test"],
            None: ["default.test"],
        }
        for name, expected in cases.items():
            assert handshake_names(proxy.port, ctx, name) == expected, name


# -- 3: Ciphers in force -------------------------------------------------------------------


def tls12_client(ca: trustme.CA, cipher: str) -> ssl.SSLContext:
    ctx = client_context(ca, maximum_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers(cipher)
    return ctx


def test_ciphers_take_effect(tmp_path: Path, ca: trustme.CA, good: Path) -> None:
    with (
        Backend("b") as backend,
        running_proxy(https_config(backend.port, [good], f'  Ciphers "{ALLOWED}"\n')) as proxy,
    ):
        with pytest.raises(ssl.SSLError):
            TlsClient(proxy.port, tls12_client(ca, REFUSED)).close()
        with TlsClient(proxy.port, tls12_client(ca, ALLOWED)) as client:
            assert client.tls.cipher()[0] == ALLOWED
            assert client.request("/").status == 200


# -- 4: a reload that changes TLS settings -------------------------------------------------


def reload_to(proxy: ProxyThread, port: int, text: str) -> tuple[bool, str]:
    config = load_config_text(text.replace("{L0}", str(port)))

    async def run() -> tuple[bool, str]:
        assert proxy.proxy is not None
        return await proxy.proxy.reload(config)

    assert proxy.loop is not None
    return asyncio.run_coroutine_threadsafe(run(), proxy.loop).result(RUN_TIMEOUT)


def test_reload_changes_tls_settings_and_keeps_open_connections(ca: trustme.CA, good: Path) -> None:
    tls12 = client_context(ca, maximum_version=ssl.TLSVersion.TLSv1_2)
    with Backend("b") as backend:
        text = https_config(backend.port, [good])
        with running_proxy(text) as proxy, TlsClient(proxy.port, tls12) as kept:
            port = proxy.port  # the harness's socket object is detached by the first restart
            assert kept.request("/").status == 200
            assert kept.tls.version() == "TLSv1.2"
            assert reload_to(
                proxy, port, https_config(backend.port, [good], "  Disable TLSv1_2\n")
            ) == (
                True,
                "reloaded",
            )
            with pytest.raises(ssl.SSLError):
                TlsClient(port, tls12).close()
            with TlsClient(port, client_context(ca)) as fresh:
                assert fresh.tls.version() == "TLSv1.3"
                assert fresh.request("/").status == 200
            # The keep-alive connection opened before the reload keeps its TLS 1.2 session.
            assert kept.request("/").status == 200
            assert kept.tls.version() == "TLSv1.2"
            # A second change of settings (TLS 1.2 allowed again) restarts the server on the
            # same listening socket once more.
            assert reload_to(proxy, port, text) == (True, "reloaded")
            with TlsClient(port, tls12) as again:
                assert again.request("/").status == 200
