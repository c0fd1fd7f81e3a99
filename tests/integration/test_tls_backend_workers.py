"""HTTPS backends with several workers (issue 14 point 3): the supervisor makes the
backends' TLS contexts, reading the client certificate, before it forks (and before any
privilege drop); the workers inherit them, and the supervisor's prober probes over TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme
from tests.process.harness import running_standby
from tests.support.backend import Backend
from tests.support.harness import free_port, get, wait_until


def test_two_workers_proxy_to_an_https_backend_with_a_client_certificate(
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    (tmp_path / "client.pem").write_bytes(
        ca.issue_cert("proxy.test").private_key_and_cert_chain_pem.bytes()
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("backend.test").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no handshake
    ca.configure_trust(context)
    port = free_port()
    with Backend("secure", ssl=context) as backend:
        config = tmp_path / "standby.cfg"
        config.write_text(
            f"""
Alive 1
ListenHTTP
    Address 127.0.0.1
    Port {port}
    Service
        BackEnd
            Address 127.0.0.1
            Port {backend.port}
            HTTPS "client.pem"
            ServerName "backend.test"
            CAlist "ca.pem"
        End
    End
End
"""
        )
        with running_standby(config, workers=2):
            for _ in range(10):
                response = get(port)
                assert (response.status, response.body) == (200, b"secure")
            assert set(backend.sni) == {"backend.test"}
            assert all(seen.peer_cert is not None for seen in backend.tls_connections)
            # Down and back: the supervisor's probe makes the same handshake.
            backend.stop()
            wait_until(lambda: get(port).status == 503, what="the backend taken out")
            backend.start()
            wait_until(lambda: get(port).status == 200, what="the backend back", timeout=30)
