"""The ACME client end to end against pebble, on loopback: standby's plain listener
answers the HTTP-01 challenges pebble really makes; the certificate is issued, verifies
under pebble's root, is renewed at two thirds of its lifetime; a refused order and a CA
that is down back off while serving goes on."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import standby.config
from standby.acme.manager import AcmeManager
from standby.model import AutoCertSpec, ConfigSpec
from tests.acme.pebble import BLOCKED_DOMAIN, Pebble
from tests.support.backend import Backend
from tests.support.harness import (
    DEADLINE,
    ProxyThread,
    get,
    listening_socket,
    wait_until,
)

# Generous: an order is a dozen requests and a validation, on 2 shared noisy cores.
ISSUE_DEADLINE = 90.0
NAMES = ("www.example.test", "example.test")


def config_text(port: int, backend: int, server: str, store: Path, ca_file: Path) -> str:
    return f"""
ListenHTTP
    Address 127.0.0.1
    Port {port}
    Service
        BackEnd
            Address 127.0.0.1
            Port {backend}
        End
    End
End
ACMEClient
    Server "{server}"
    Email "admin@example.test"
    Store "{store}"
    CAlist "{ca_file}"
End
"""


def with_certificates(config: ConfigSpec, *groups: tuple[str, ...]) -> ConfigSpec:
    """The ACMEClient of ``config`` asked for one certificate per group of names (what
    ``AutoCert`` lines in HTTPS listeners add)."""
    acme = config.acme
    assert acme is not None
    certs = tuple(AutoCertSpec(names, f"{acme.store}/{names[0]}.pem") for names in groups)
    return dataclasses.replace(config, acme=dataclasses.replace(acme, certificates=certs))


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend("app") as running:
        yield running


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = listening_socket()
    yield sock
    sock.close()


def served_certificate(pem_file: Path, root: bytes, name: str) -> dict[str, object]:
    """Serve ``pem_file`` (key, certificate, chain) on a loopback TLS socket and complete a
    handshake with a client that trusts only ``root`` and asks for ``name``."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(pem_file))
    client_context = ssl.create_default_context(cadata=root.decode("ascii"))
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def accept() -> None:
            conn, _ = server.accept()
            with (
                contextlib.suppress(OSError),
                server_context.wrap_socket(conn, server_side=True) as tls,
            ):
                tls.recv(1)

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as raw,
            client_context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            peer = tls.getpeercert()
        thread.join(DEADLINE)
    assert peer is not None
    return peer


def test_issue_then_renew_at_two_thirds(
    tmp_path: Path, backend: Backend, listener: socket.socket
) -> None:
    store = tmp_path / "store"
    port = listener.getsockname()[1]
    # 15 s certificates: renewal is due 10 s after the first was issued.
    with Pebble(tmp_path, port, validity=15) as pebble:
        text = config_text(port, backend.port, pebble.directory_url, store, pebble.ca_file)
        config = with_certificates(standby.config.load_config_text(text), NAMES)
        with ProxyThread(config, [listener]) as proxy:
            manager = proxy.proxy.acme if proxy.proxy is not None else None
            assert isinstance(manager, AcmeManager)
            pem = store / "www.example.test.pem"
            wait_until(lambda: manager.issued.get(str(pem), 0) >= 1, ISSUE_DEADLINE, "issue")
            assert (pem.stat().st_mode & 0o777) == 0o600
            assert (store.stat().st_mode & 0o777) == 0o700
            assert ((store / "account.key").stat().st_mode & 0o777) == 0o600
            first = pem.read_bytes()
            peer = served_certificate(pem, pebble.root(), "example.test")
            assert ("DNS", "www.example.test") in peer["subjectAltName"]  # type: ignore[operator]
            # Serving never stopped, and the challenge files are gone once used.
            assert get(proxy.port, "/").status == 200
            assert list((store / "challenges").iterdir()) == []
            wait_until(lambda: manager.issued.get(str(pem), 0) >= 2, ISSUE_DEADLINE, "renewal")
            assert pem.read_bytes() != first
            served_certificate(pem, pebble.root(), "www.example.test")
            assert manager.failures.get(str(pem), 0) == 0
            assert proxy.errors == []


def test_a_refused_order_backs_off_and_the_others_are_issued(
    tmp_path: Path, backend: Backend, listener: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "store"
    port = listener.getsockname()[1]
    with Pebble(tmp_path, port, nonce_reject=30) as pebble:  # many badNonce retries too
        text = config_text(port, backend.port, pebble.directory_url, store, pebble.ca_file)
        blocked = (f"www.{BLOCKED_DOMAIN}",)
        config = with_certificates(standby.config.load_config_text(text), blocked, NAMES)
        with ProxyThread(config, [listener]) as proxy:
            manager = proxy.proxy.acme if proxy.proxy is not None else None
            assert isinstance(manager, AcmeManager)
            refused = str(store / f"www.{BLOCKED_DOMAIN}.pem")
            good = str(store / "www.example.test.pem")
            wait_until(lambda: manager.failures.get(refused, 0) >= 1, ISSUE_DEADLINE, "refusal")
            # Backed off: the next attempt is the first delay (a minute, give or take its
            # jitter) after the refusal, not at once.
            assert manager.due[refused] - time.time() > 30
            wait_until(lambda: manager.issued.get(good, 0) >= 1, ISSUE_DEADLINE, "the other")
            assert not Path(refused).exists()
            assert manager.failures[refused] == 1
            assert get(proxy.port, "/").status == 200
    refusals = [r for r in caplog.records if "rejectedIdentifier" in r.getMessage()]
    assert refusals and refusals[0].levelname == "ERROR"
    assert "next attempt in" in refusals[0].getMessage()


def test_pebble_down_backs_off_serving_goes_on_then_issues(
    tmp_path: Path, backend: Backend, listener: socket.socket
) -> None:
    store = tmp_path / "store"
    port = listener.getsockname()[1]
    pebble = Pebble(tmp_path, port)
    try:
        pebble.start()
        url = pebble.directory_url
        pebble.stop_pebble()  # the CA is down from the start
        text = config_text(port, backend.port, url, store, pebble.ca_file)
        config = with_certificates(standby.config.load_config_text(text), NAMES)
        assert config.acme is not None
        # The proxy answers the challenges (Pound's ACME "DIR" on the store's challenge
        # directory); the client is driven here, with short back-off delays (the proxy's
        # own would wait a minute first).
        (store / "challenges").mkdir(parents=True, mode=0o700)
        served = text.replace("ListenHTTP\n", f'ListenHTTP\n    ACME "{store}/challenges"\n', 1)
        proxy_config = standby.config.load_config_text(served.split("ACMEClient")[0])
        loop = asyncio.new_event_loop()
        manager = AcmeManager(config.acme, delays=(0.5, 1.0, 2.0), rand=lambda: 0.5)
        pem = str(store / "www.example.test.pem")
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        with ProxyThread(proxy_config, [listener]) as proxy:
            loop.call_soon_threadsafe(manager.start)
            wait_until(lambda: manager.failures.get(pem, 0) >= 2, ISSUE_DEADLINE, "back-off")
            for _ in range(5):
                assert get(proxy.port, "/").status == 200
            assert manager.issued.get(pem, 0) == 0
            pebble.start_pebble()  # back, on the same port
            wait_until(lambda: manager.issued.get(pem, 0) == 1, ISSUE_DEADLINE, "issue")
            assert manager.failures[pem] == 0
            served_certificate(Path(pem), pebble.root(), "www.example.test")
            asyncio.run_coroutine_threadsafe(manager.stop(), loop).result(DEADLINE)
            assert proxy.errors == []
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE)
        loop.close()
    finally:
        pebble.stop()


def https_config(plain: int, https: int, backend: int, server: str, store: Path, ca: Path) -> str:
    return (
        config_text(plain, backend, server, store, ca)
        + f"""
ListenHTTPS
    Address 127.0.0.1
    Port {https}
    AutoCert "www.example.test" "example.test"
    Service
        BackEnd
            Address 127.0.0.1
            Port {backend}
        End
    End
End
"""
    )


def handshake(port: int, root: bytes, name: str) -> dict[str, object] | None:
    """The certificate standby's HTTPS listener presents for ``name``, verified under
    ``root`` (None: the handshake failed)."""
    context = ssl.create_default_context(cadata=root.decode("ascii"))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            return tls.getpeercert()
    except (ssl.SSLError, OSError):
        return None


def test_autocert_listener_starts_without_its_certificate_and_serves_it_once_issued(
    tmp_path: Path, backend: Backend, listener: socket.socket
) -> None:
    store = tmp_path / "store"
    plain = listener.getsockname()[1]
    https_socket = listening_socket()
    https = https_socket.getsockname()[1]
    with Pebble(tmp_path, plain) as pebble:
        text = https_config(plain, https, backend.port, pebble.directory_url, store, pebble.ca_file)
        config = standby.config.load_config_text(text)
        assert config.acme is not None and len(config.acme.certificates) == 1
        with ProxyThread(config, [listener, https_socket]) as proxy:
            root = pebble.root()
            peer: list[dict[str, object] | None] = [None]

            def served() -> bool:
                peer[0] = handshake(https, root, "www.example.test")
                return peer[0] is not None

            wait_until(served, ISSUE_DEADLINE, "the issued certificate on the HTTPS listener")
            assert ("DNS", "example.test") in peer[0]["subjectAltName"]  # type: ignore[index,operator]
            assert get(proxy.port, "/").status == 200  # the plain listener serves on
            assert proxy.errors == []
