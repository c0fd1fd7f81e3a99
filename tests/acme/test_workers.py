"""With several workers the ACME client runs once, in the supervisor, and every worker
answers the challenges from the store's challenge directory."""

from __future__ import annotations

from pathlib import Path

from tests.acme.pebble import Pebble
from tests.process.harness import Backend, http_get, running_standby, wait_for
from tests.support.harness import free_port


def test_the_supervisor_runs_the_client_and_every_worker_answers(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "store"
    backend = Backend()
    with Pebble(tmp_path, port) as pebble:
        config = tmp_path / "standby.cfg"
        config.write_text(
            f"""
Workers 2
LogFacility "-"
ListenHTTP
    Address 127.0.0.1
    Port {port}
    Service
        BackEnd
            Address 127.0.0.1
            Port {backend.port}
        End
    End
End
ACMEClient
    Server "{pebble.directory_url}"
    Store "{store}"
    CAlist "{pebble.ca_file}"
End
"""
        )
        with running_standby(config) as standby:
            key = store / "account.key"
            wait_for(key.exists, "the account key")
            assert (key.stat().st_mode & 0o777) == 0o600
            (store / "challenges" / "token-1").write_bytes(b"token-1.print")
            # Connections land on either worker: all of them answer.
            for _ in range(8):
                answer = http_get(port, b"/.well-known/acme-challenge/token-1")
                assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"token-1.print")
            assert b" 404 " in http_get(port, b"/.well-known/acme-challenge/token-2")
            assert b" 200 OK" in http_get(port, b"/").split(b"\r\n")[0]
            assert "Traceback" not in standby.stderr()
    backend.close()
