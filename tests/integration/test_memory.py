"""Streaming 100 MB each way through standby running as its own process: the SHA-256 of
both bodies is intact and the proxy's peak memory stays flat (bodies are never buffered
whole). The figures are printed (run pytest with -s to see them)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from tests.support.backend import Backend, download_digest
from tests.support.configs import one_backend
from tests.support.harness import DEADLINE, REPO, Client, free_port, wait_until

SIZE = 100 * 1024 * 1024
# If either body were buffered whole, the peak would grow by at least SIZE. Allow far less.
MAX_GROWTH = 32 * 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def can_connect(port: int) -> bool:
    try:
        Client(port, timeout=1).close()
        return True
    except OSError:
        return False


def test_100mb_each_way_with_flat_memory(tmp_path: Path) -> None:
    with Backend("big") as backend:
        port = free_port()
        cfg = tmp_path / "standby.cfg"
        cfg.write_text(one_backend(backend.port, listen=port, global_extra="Daemon 0\nLogLevel 0"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "standby", "-e", "-f", str(cfg)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_until(lambda: can_connect(port), DEADLINE, "standby listening")
            with Client(port, timeout=120) as c:
                assert c.request("/").status == 200
                baseline = status_kib(proc.pid, "VmRSS")

                down = hashlib.sha256()
                c.send(f"GET /download/{SIZE} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                assert c.response(sink=down.update).status == 200
                assert down.hexdigest() == download_digest(SIZE)

                c.send(
                    f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\n\r\n".encode()
                )
                block = bytes(range(256)) * 256
                up = hashlib.sha256()
                for _ in range(SIZE // len(block)):
                    c.sock.sendall(block)
                    up.update(block)
                assert c.response().body == up.hexdigest().encode()
                peak = status_kib(proc.pid, "VmHWM")
            growth = (peak - baseline) * 1024
            print(
                f"\nstreaming 2 x 100 MiB: proxy RSS after start {baseline / 1024:.1f} MiB, "
                f"peak {peak / 1024:.1f} MiB, growth {growth / 2**20:.1f} MiB"
            )
            assert growth < MAX_GROWTH
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 0, err.decode(errors="replace")
