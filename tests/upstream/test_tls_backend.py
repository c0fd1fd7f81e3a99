"""HTTPS backends (issue 14 point 3): real TLS backends on loopback, made by the tests with
their own CA (trustme). What the backend sees (SNI, client certificate, how many TLS
connections, resumed sessions), failover from a backend that dies, stalls in the
handshake or shows a certificate the CAlist does not trust, an Emergency over TLS, and
the health probes and checks over TLS."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports, get, wait_until

from standby.config import load_config_text

BACKEND_NAME = "backend.test"
CLIENT_NAME = "proxy.test"


@dataclass
class Pki:
    ca: trustme.CA
    ca_file: Path  # the CA that signed the backends' certificates
    other_ca_file: Path  # a CA that signed nothing here
    client_pem: Path  # key and certificate (and chain) the proxy presents

    def server_context(self, *, want_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(BACKEND_NAME, "127.0.0.1").configure_cert(context)
        if want_client_cert:
            context.verify_mode = ssl.CERT_OPTIONAL
            self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    other = directory / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    client = directory / "client.pem"
    client.write_bytes(ca.issue_cert(CLIENT_NAME).private_key_and_cert_chain_pem.bytes())
    return Pki(ca, ca_file, other, client)


@pytest.fixture
def tls_backend(pki: Pki) -> Iterator[Backend]:
    with Backend("secure", ssl=pki.server_context(want_client_cert=True)) as backend:
        yield backend


def service(*backends: str, service_extra: str = "", top: str = "") -> str:
    return f"""
{top}
ListenHTTP
    Address 127.0.0.1
    Port {{L0}}
    Service
        {service_extra}
        {"".join(backends)}
    End
End
"""


def backend(port: int, extra: str = "", section: str = "BackEnd") -> str:
    return f"""
        {section}
            Address 127.0.0.1
            Port {port}
            {extra}
        End
"""


def start(text: str) -> ProxyThread:
    config, sockets = config_with_ports(text)
    return ProxyThread(config, sockets).start()


def body_of(port: int, target: str = "/") -> str:
    response = get(port, target)
    return f"{response.status} {response.body.decode()}"


def health_of(proxy: ProxyThread, port: int) -> tuple[bool, str]:
    assert proxy.proxy is not None
    for row in proxy.proxy.board.snapshot():
        if row.spec.port == port:
            return row.alive, row.reason
    raise AssertionError(f"no backend on port {port}")


def stalling_listener() -> socket.socket:
    """Accepts TCP (the kernel completes the handshake from the backlog) and never says a
    word: a TLS handshake with it never ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


@contextlib.contextmanager
def plain_http_server() -> Iterator[int]:
    """A plain HTTP server that answers anything (a TLS ClientHello too) with 400 and
    closes, as web servers do: where TLS was expected, the handshake fails at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        sock.close()


# -- proxying ------------------------------------------------------------------------------


def test_requests_reach_an_https_backend_and_keep_alive_reuses_one_tls_connection(
    tls_backend: Backend,
) -> None:
    proxy = start(service(backend(tls_backend.port, "HTTPS")))
    try:
        with Client(proxy.port) as client:
            for _ in range(20):
                response = client.request("/")
                assert (response.status, response.body) == (200, b"secure")
        assert tls_backend.requests == 20
        # One TLS connection served all of them: the pool keeps it across requests.
        assert len(tls_backend.tls_connections) == 1
        seen = tls_backend.tls_connections[0]
        assert seen.version in {"TLSv1.2", "TLSv1.3"}
        assert seen.peer_cert is None  # no Cert: no client certificate
        assert tls_backend.sni == [None]  # Pound sends no name without ServerName
    finally:
        proxy.stop()


def test_server_name_is_the_sni_the_backend_sees(tls_backend: Backend) -> None:
    proxy = start(service(backend(tls_backend.port, 'HTTPS\nServerName "app.internal"')))
    try:
        assert body_of(proxy.port) == "200 secure"
        assert tls_backend.sni == ["app.internal"]
    finally:
        proxy.stop()


@pytest.mark.parametrize("form", ["pound2", "pound4"])
def test_the_client_certificate_is_presented(tls_backend: Backend, pki: Pki, form: str) -> None:
    lines = f'HTTPS "{pki.client_pem}"' if form == "pound2" else f'HTTPS\nCert "{pki.client_pem}"'
    proxy = start(service(backend(tls_backend.port, lines)))
    try:
        assert body_of(proxy.port) == "200 secure"
        cert = tls_backend.tls_connections[0].peer_cert
        assert cert is not None
        assert ("DNS", CLIENT_NAME) in cert["subjectAltName"]
    finally:
        proxy.stop()


def test_a_new_connection_resumes_the_backends_last_session(tls_backend: Backend) -> None:
    proxy = start(service(backend(tls_backend.port, "HTTPS")))
    try:
        for _ in range(4):  # /close: the backend closes, the next request connects anew
            response = get(proxy.port, "/close")
            assert response.status == 200
        wait_until(lambda: len(tls_backend.tls_connections) == 4, what="four connections")
        resumed = [seen.resumed for seen in tls_backend.tls_connections]
        assert resumed[0] is False
        assert all(resumed[1:]), resumed
    finally:
        proxy.stop()


def test_calist_accepts_a_backend_signed_by_it(tls_backend: Backend, pki: Pki) -> None:
    lines = f'HTTPS\nServerName "{BACKEND_NAME}"\nCAlist "{pki.ca_file}"'
    proxy = start(service(backend(tls_backend.port, lines)))
    try:
        assert body_of(proxy.port) == "200 secure"
    finally:
        proxy.stop()


def test_calist_verifies_the_address_without_server_name(tls_backend: Backend, pki: Pki) -> None:
    proxy = start(service(backend(tls_backend.port, f'HTTPS\nCAlist "{pki.ca_file}"')))
    try:
        assert body_of(proxy.port) == "200 secure"  # the certificate names 127.0.0.1
    finally:
        proxy.stop()


# -- failover ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["wrong-ca", "wrong-name", "plain-http", "stall"])
def test_a_failed_handshake_fails_over_to_the_next_backend(
    tls_backend: Backend, pki: Pki, fault: str
) -> None:
    with plain_http_server() as plain_port, stalling_listener() as stall:
        bad_port = tls_backend.port
        if fault == "wrong-ca":
            lines = f'HTTPS\nServerName "{BACKEND_NAME}"\nCAlist "{pki.other_ca_file}"'
        elif fault == "wrong-name":
            lines = f'HTTPS\nServerName "elsewhere.test"\nCAlist "{pki.ca_file}"'
        elif fault == "plain-http":  # a plain HTTP server where TLS was expected
            bad_port, lines = plain_port, "HTTPS"
        else:
            bad_port, lines = stall.getsockname()[1], "HTTPS\nConnTO 1"
        with Backend("good") as good:
            proxy = start(
                service(
                    backend(bad_port, lines + "\nPriority 9"),
                    backend(good.port, "Priority 1"),
                    top="Alive 60",
                )
            )
            try:
                # Whoever the balancer picks first, every GET gets the good backend's answer
                # (a failed handshake sent nothing: resending is always safe).
                for _ in range(5):
                    assert body_of(proxy.port) == "200 good"
                alive, reason = health_of(proxy, bad_port)
                assert not alive
                expected = {
                    "wrong-ca": "TLS handshake failed: certificate verify failed",
                    "wrong-name": "TLS handshake failed: certificate verify failed",
                    "plain-http": "TLS handshake failed",
                    "stall": "TLS handshake timed out after 1s",
                }[fault]
                assert expected in reason, reason
                assert tls_backend.requests == 0
            finally:
                proxy.stop()


def test_a_post_fails_over_after_a_failed_handshake(tls_backend: Backend, pki: Pki) -> None:
    """A handshake failure is a connect failure: even a POST (never resent once sent)
    goes to the next backend, since no byte of it left."""
    lines = f'HTTPS\nServerName "{BACKEND_NAME}"\nCAlist "{pki.other_ca_file}"\nPriority 9'
    with Backend("good") as good:
        proxy = start(service(backend(tls_backend.port, lines), backend(good.port, "Priority 1")))
        try:
            for _ in range(3):
                with Client(proxy.port) as client:
                    response = client.request("/upload", method="POST", body=b"x" * 1000)
                assert response.status == 200
            assert good.requests == 3
        finally:
            proxy.stop()


def test_an_https_backend_that_dies_fails_over_and_comes_back(pki: Pki) -> None:
    with Backend("good") as good:
        secure = Backend("secure", ssl=pki.server_context()).start()
        port = secure.port
        proxy = start(
            service(
                backend(port, "HTTPS\nPriority 9"), backend(good.port, "Priority 1"), top="Alive 1"
            )
        )
        try:
            wait_until(lambda: body_of(proxy.port) == "200 secure", what="the TLS backend")
            secure.stop()
            for _ in range(5):
                assert body_of(proxy.port) == "200 good"
            assert not health_of(proxy, port)[0]
            # The TCP probe, a TLS handshake too, brings it back once it listens again.
            secure = Backend("secure", port=port, ssl=pki.server_context()).start()
            wait_until(lambda: health_of(proxy, port)[0], what="the TLS backend back")
            assert health_of(proxy, port)[1].startswith("probe connected")
            wait_until(lambda: body_of(proxy.port) == "200 secure", what="serving again")
        finally:
            proxy.stop()
            secure.stop()


def test_a_stalling_backend_is_not_brought_back_by_the_probe() -> None:
    """The probe of an HTTPS backend passes only with a finished handshake: a port that
    accepts TCP and never answers stays dead."""
    with stalling_listener() as stall, Backend("good") as good:
        port = stall.getsockname()[1]
        proxy = start(
            service(
                backend(port, "HTTPS\nConnTO 1\nPriority 9"),
                backend(good.port, "Priority 1"),
                top="Alive 1",
            )
        )
        try:

            def tried_and_dead() -> bool:
                # The balancer may pick the good backend first: ask until it has tried the
                # stalling one (every answer is the good one's either way).
                assert body_of(proxy.port) == "200 good"
                return not health_of(proxy, port)[0]

            wait_until(tried_and_dead, what="marked dead")
            assert proxy.proxy is not None
            wait_until(lambda: "probe" in (_last_result(proxy, port) or ""), what="a probe of it")
            assert not health_of(proxy, port)[0]
            assert _last_result(proxy, port) == "probe timed out after 1 s"
        finally:
            proxy.stop()


def _last_result(proxy: ProxyThread, port: int) -> str | None:
    assert proxy.proxy is not None
    for row in proxy.proxy.board.snapshot():
        if row.spec.port == port:
            return row.last_result
    return None


def test_an_emergency_over_tls_serves_when_the_regular_backend_is_dead(pki: Pki) -> None:
    with stalling_listener() as dead:
        dead_port = dead.getsockname()[1]
    with Backend("mirror", ssl=pki.server_context()) as mirror:
        lines = f'HTTPS\nServerName "{BACKEND_NAME}"\nCAlist "{pki.ca_file}"'
        proxy = start(service(backend(dead_port), backend(mirror.port, lines, section="Emergency")))
        try:
            for _ in range(3):
                assert body_of(proxy.port) == "200 mirror"
            assert mirror.sni[-1] == BACKEND_NAME
        finally:
            proxy.stop()


# -- health checks -------------------------------------------------------------------------


def test_a_health_check_runs_over_tls(tls_backend: Backend, pki: Pki) -> None:
    check = 'HealthCheck\n Path "/status/200"\n Interval 1\nEnd'
    lines = f'HTTPS\nServerName "{BACKEND_NAME}"\nCAlist "{pki.ca_file}"'
    proxy = start(service(backend(tls_backend.port, lines), service_extra=check))
    try:
        wait_until(
            lambda: any(b"/status/200" in head for head in tls_backend.heads),
            what="a check request over TLS",
        )
        assert health_of(proxy, tls_backend.port)[0]
        assert all(seen.version for seen in tls_backend.tls_connections)
        assert body_of(proxy.port) == "200 secure"
    finally:
        proxy.stop()


def test_a_health_check_fails_on_a_certificate_the_calist_refuses(
    tls_backend: Backend, pki: Pki
) -> None:
    check = 'HealthCheck\n Path "/status/200"\n Interval 1\n Fall 1\nEnd'
    lines = f'HTTPS\nServerName "{BACKEND_NAME}"\nCAlist "{pki.other_ca_file}"'
    proxy = start(service(backend(tls_backend.port, lines), service_extra=check))
    try:
        wait_until(lambda: not health_of(proxy, tls_backend.port)[0], what="check failed")
        reason = health_of(proxy, tls_backend.port)[1]
        assert "certificate verify failed" in reason, reason
        assert tls_backend.requests == 0
    finally:
        proxy.stop()


# -- reload --------------------------------------------------------------------------------


def reload_to(proxy: ProxyThread, text: str) -> tuple[bool, str]:
    config = load_config_text(text.format(L0=proxy.port))

    async def run() -> tuple[bool, str]:
        assert proxy.proxy is not None
        return await proxy.proxy.reload(config)

    assert proxy.loop is not None
    return asyncio.run_coroutine_threadsafe(run(), proxy.loop).result(60)


def test_a_reload_that_turns_https_on_never_reuses_a_plain_pooled_connection() -> None:
    with Backend("plain") as plain:
        proxy = start(service(backend(plain.port, "ConnTO 1")))
        try:
            with Client(proxy.port) as client:
                assert client.request("/").status == 200  # a plain connection is pooled
                assert reload_to(proxy, service(backend(plain.port, "HTTPS\nConnTO 1"))) == (
                    True,
                    "reloaded",
                )
                # HTTPS now: a TLS handshake with a plain server, never the pooled one.
                assert client.request("/").status == 503
            assert plain.requests == 1
        finally:
            proxy.stop()


def test_a_reload_that_changes_tls_settings_makes_new_connections(tls_backend: Backend) -> None:
    proxy = start(service(backend(tls_backend.port, 'HTTPS\nServerName "one.test"')))
    try:
        with Client(proxy.port) as client:
            for _ in range(3):
                assert client.request("/").status == 200
            changed = service(backend(tls_backend.port, 'HTTPS\nServerName "two.test"'))
            assert reload_to(proxy, changed) == (True, "reloaded")
            for _ in range(3):
                assert client.request("/").status == 200
        assert tls_backend.sni == ["one.test", "two.test"]
        assert len(tls_backend.tls_connections) == 2
        assert health_of(proxy, tls_backend.port)[0]
    finally:
        proxy.stop()


def test_a_reload_with_a_cipher_list_openssl_refuses_changes_nothing(
    tls_backend: Backend,
) -> None:
    proxy = start(service(backend(tls_backend.port, "HTTPS")))
    try:
        ok, message = reload_to(proxy, service(backend(tls_backend.port, 'HTTPS\nCiphers "NONE"')))
        assert not ok
        assert message.endswith(': no cipher matches "NONE"'), message
        assert body_of(proxy.port) == "200 secure"
    finally:
        proxy.stop()
