"""``standbyctl keepalive off|on``: the HA handover's connection switch, from outside (the
installed programs, real sockets, one process and the default workers)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process.harness import IO_TIMEOUT, Backend, free_port, running_standby, wait_for

STANDBYCTL = str(Path(sys.executable).parent / "standbyctl")
REQUEST = b"GET / HTTP/1.1\r\nHost: ha.test\r\n\r\n"


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STANDBYCTL, *args], capture_output=True, text=True, timeout=60, check=False
    )


def keep_alive_of(sock_path: Path) -> bool:
    return bool(json.loads(ctl("-s", str(sock_path), "--json", "core").stdout)["keepalive"])


def answer(sock: socket.socket) -> bytes:
    """One response to a request sent on ``sock`` (the backend's is 5 bytes, framed)."""
    sock.sendall(REQUEST)
    data = b""
    while not data.endswith(b"hello"):
        chunk = sock.recv(65536)
        assert chunk, f"closed before the answer: {data!r}"
        data += chunk
    return data


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(IO_TIMEOUT)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return False


@pytest.mark.parametrize("workers", [1, None], ids=["one process", "default workers"])
def test_keepalive_off_closes_after_each_answer_and_keeps_accepting(
    tmp_path: Path, workers: int | None
) -> None:
    backend = Backend()
    port = free_port()
    sock_path = tmp_path / "ctl.sock"
    config = tmp_path / "pound.cfg"
    config.write_text(
        f'Control "{sock_path}"\nListenHTTP\n  Address 127.0.0.1\n  Port {port}\n'
        f"  Service\n    BackEnd\n      Address 127.0.0.1\n      Port {backend.port}\n"
        "    End\n  End\nEnd\n"
    )
    try:
        with running_standby(config, workers) as proxy:
            idle = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
            busy = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
            for sock in (idle, busy):
                assert b"connection: close" not in answer(sock).lower()  # kept alive, idle
            assert keep_alive_of(sock_path) is True

            switching = subprocess.Popen(
                [STANDBYCTL, "-s", str(sock_path), "keepalive", "off"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            wait_for(lambda: keep_alive_of(sock_path) is False, "keep-alive off")
            # A client that sends on its idle connection within the linger gets its answer,
            # with Connection: close, and the server's FIN after it: no race with a close.
            assert b"connection: close" in answer(busy).lower()
            assert closed_by_server(busy)
            out, err = switching.communicate(timeout=60)
            assert switching.returncode == 0, err
            assert out.startswith("keep-alive off")
            # The connection that stayed idle is closed after the linger (a FIN).
            assert closed_by_server(idle)
            idle.close()
            busy.close()
            # ... and a new one is accepted, answered, and closed after its answer.
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as one:
                    assert b"connection: close" in answer(one).lower()
                    assert closed_by_server(one)
            assert keep_alive_of(sock_path) is False

            # A reload keeps it off: the operator's switch, not the configuration's.
            proxy.signal(signal.SIGHUP)
            wait_for(lambda: "reload" in proxy.stderr().lower(), "the reload")
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as one:
                assert b"connection: close" in answer(one).lower()

            assert ctl("-s", str(sock_path), "keepalive", "on").returncode == 0
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as one:
                assert b"connection: close" not in answer(one).lower()
                assert b"connection: close" not in answer(one).lower()  # the same one
    finally:
        backend.close()
