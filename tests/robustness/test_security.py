"""Security basics: privileges of every process, the jail, error pages that say nothing about
the inside, X-Forwarded-For appended to and never trusted for the log."""

from __future__ import annotations

import grp
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import standby
from standby.observe.access import AccessLog
from tests.robustness.misbehaving import ScriptedBackend, fault_responder, recorded
from tests.support.backend import Backend
from tests.support.configs import one_backend
from tests.support.harness import (
    DEADLINE,
    REPO,
    Client,
    ProxyThread,
    config_with_ports,
    free_port,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)

WORKERS = 2  # the supervisor and this many workers: every one must drop its privileges


def command(test: str) -> str:
    return f"python -m pytest tests/robustness/test_security.py::{test}"


# -- privileges of every process --------------------------------------------------------------


def _group_for_nobody() -> grp.struct_group:
    for name in ("nogroup", "nobody"):
        try:
            return grp.getgrnam(name)
        except KeyError:
            continue
    pytest.skip("no group for nobody")


def _status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as src:
        for line in src:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as src:
                ppid = int(src.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        parents[int(entry)] = ppid
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def _answers(port: int) -> bool:
    try:
        with Client(port, timeout=5) as c:
            return c.request("/", host="www.example.com").status == 200
    except OSError:
        return False


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(DEADLINE)


def _start(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], backend: Backend, extra: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cfg = tmp_path / "pound.cfg"
    cfg.write_text(one_backend(backend.port, listen=port, global_extra=f"{extra}\nDaemon 0"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "standby", "-f", str(cfg), "-e", "--workers", str(WORKERS)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    procs.append(proc)
    wait_until(lambda: _answers(port) or proc.poll() is not None, DEADLINE, "standby serving")
    assert proc.poll() is None, "standby exited"
    # Every worker is up when the tree has them all (the supervisor starts them at once).
    wait_until(lambda: len(process_tree(proc.pid)) >= 1 + WORKERS, DEADLINE, "all workers")
    return proc, port


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.parametrize("jail", [False, True], ids=["user-group", "root-jail"])
def test_every_process_drops_privileges(
    tmp_path: Path, started: list[subprocess.Popen[bytes]], jail: bool
) -> None:
    group = _group_for_nobody()
    uid = pwd.getpwnam("nobody").pw_uid
    extra = f'User "nobody"\nGroup "{group.gr_name}"'
    jail_dir = tmp_path / "jail"
    if jail:
        jail_dir.mkdir()
        extra += f'\nRootJail "{jail_dir}"'
    name = "privileges: every process, " + ("RootJail" if jail else "User/Group")
    test_id = "root-jail" if jail else "user-group"
    with (
        recorded(name, command(f"test_every_process_drops_privileges[{test_id}]")) as figures,
        Backend("backend") as backend,
    ):
        proc, port = _start(tmp_path, started, backend, extra)
        pids = process_tree(proc.pid)
        figures["processes"] = len(pids)
        for pid in pids:
            status = _status(pid)
            assert status["Uid"].split() == [str(uid)] * 4, (pid, status["Uid"])
            assert status["Gid"].split() == [str(group.gr_gid)] * 4, (pid, status["Gid"])
            assert status["Groups"] == "", (pid, status["Groups"])
            if jail:
                assert os.readlink(f"/proc/{pid}/root") == str(jail_dir), pid
        # Still serving (inside the jail, too): fresh connections all answer.
        for _ in range(2 * WORKERS):
            assert _answers(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(DEADLINE) == 0


# -- error pages --------------------------------------------------------------------------------

# Nothing about the inside: addresses, exceptions, paths, product or versions.
LEAK_PATTERNS = (
    rb"127\.0\.0\.1",
    rb"Traceback",
    rb"Exception",
    rb"Error:",
    rb"[Pp]ython",
    rb"standby",
    rb"uvloop",
    rb"httptools",
    rb"\.py\b",
    rb"/work|/usr|/tmp|/home|/root",
    re.escape(standby.__version__.encode()),
)

ERROR_CONFIG = """\
Alive 600
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  xHTTP 0
  Client 1
  MaxRequest 10
  Service
    Host "faulty.test"
    PassiveChecks 0
    BackEnd
      Address 127.0.0.1
      Port {faulty}
      TimeOut 1
    End
  End
  Service
    Host "down.test"
    BackEnd
      Address 127.0.0.1
      Port {down}
    End
  End
  Service
    BackEnd
      Address 127.0.0.1
      Port {healthy}
    End
  End
End
"""

H = b"Host: www.example.com\r\n"
# status -> what makes standby generate it
TRIGGERS: dict[int, bytes] = {
    400: b"GET / HTTP/1.1\r\n" + H + b"X-A : 1\r\n\r\n",
    405: b"DELETE / HTTP/1.1\r\n" + H + b"\r\n",
    408: b"GET / HTTP/1.1\r\n" + H,  # an unfinished head, past Client
    413: b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 11\r\n\r\n",
    414: b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n",
    431: b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n" * 150 + b"\r\n",
    501: b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
    502: b"GET /two-lengths/x HTTP/1.1\r\nHost: faulty.test\r\n\r\n",
    503: b"GET / HTTP/1.1\r\nHost: down.test\r\n\r\n",
    504: b"GET /silent/x HTTP/1.1\r\nHost: faulty.test\r\n\r\n",
    505: b"GET / HTTP/1.2\r\n" + H + b"\r\n",
}


@pytest.fixture(scope="module")
def error_proxy() -> Iterator[tuple[ProxyThread, list[int]]]:
    down = free_port()
    with ScriptedBackend(fault_responder) as faulty, Backend("healthy") as healthy:
        config, socks = config_with_ports(
            ERROR_CONFIG.format(faulty=faulty.port, down=down, healthy=healthy.port)
        )
        with ProxyThread(config, socks) as proxy:
            yield proxy, [faulty.port, down, healthy.port, proxy.port]
        assert proxy.errors == []


@pytest.mark.parametrize("status", sorted(TRIGGERS))
def test_error_pages_leak_nothing(error_proxy: tuple[ProxyThread, list[int]], status: int) -> None:
    proxy, ports = error_proxy
    with recorded(
        f"error page {status} leaks nothing",
        command(f"test_error_pages_leak_nothing[{status}]"),
    ) as figures:
        with Client(proxy.port) as c:
            c.send(TRIGGERS[status])
            resp = c.response()
        figures["status"] = resp.status
        figures["bytes"] = len(resp.raw_head) + len(resp.body)
        assert resp.status == status
        shown = resp.raw_head + b"\r\n\r\n" + resp.body
        for pattern in LEAK_PATTERNS + tuple(rb"\b%d\b" % p for p in ports):
            assert re.search(pattern, shown) is None, (pattern, shown)
        assert resp.header(b"server") is None  # no product name or version at all


# -- X-Forwarded-For ---------------------------------------------------------------------------


SPOOFED = "203.0.113.7"  # TEST-NET-3: a client's claim, never the peer


def _forwarded_for(echo: bytes) -> list[bytes]:
    return [
        line.split(b":", 1)[1].strip()
        for line in echo.split(b"\r\n")
        if line.lower().startswith(b"x-forwarded-for:")
    ]


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_x_forwarded_for_is_appended_and_the_log_shows_the_peer(level: int) -> None:
    lines: list[str] = []
    with (
        recorded(
            f"X-Forwarded-For appended, LogLevel {level} logs the peer",
            command(f"test_x_forwarded_for_is_appended_and_the_log_shows_the_peer[{level}]"),
        ) as figures,
        Backend("echo") as backend,
    ):
        config, socks = config_with_ports(one_backend(backend.port))
        access = AccessLog(level, False, lines.append)
        with ProxyThread(config, socks, access_log=access) as proxy, Client(proxy.port) as c:
            one = c.request("/echo", headers=f"X-Forwarded-For: {SPOOFED}\r\n")
            two = c.request(
                "/echo", headers=f"X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: {SPOOFED}\r\n"
            )
            wait_until(lambda: len(lines) == 2, DEADLINE, "two access log lines")
        assert proxy.errors == []
        figures["log lines"] = len(lines)
        # Appended to (the last line when there are several), never replaced.
        assert _forwarded_for(one.body) == [f"{SPOOFED}, 127.0.0.1".encode()]
        assert _forwarded_for(two.body) == [b"198.51.100.1", f"{SPOOFED}, 127.0.0.1".encode()]
        for line in lines:
            assert SPOOFED not in line, line
            fields = line.split()
            peer = fields[1] if level in (3, 5) else fields[0]  # 3 and 5 start with the Host
            assert peer == "127.0.0.1", line


def test_nothing_reaches_the_loops_default_handler_after_abuse() -> None:
    """A burst of every kind of refusal and backend fault, then a normal request: the
    proxy's loop saw no unhandled exception (ProxyThread.errors) and still serves."""
    down = free_port()
    with (
        recorded(
            "no unhandled exception after a burst of abuse",
            command("test_nothing_reaches_the_loops_default_handler_after_abuse"),
        ) as figures,
        ScriptedBackend(fault_responder) as faulty,
        Backend("healthy") as healthy,
    ):
        config, socks = config_with_ports(
            ERROR_CONFIG.format(faulty=faulty.port, down=down, healthy=healthy.port)
        )
        with ProxyThread(config, socks) as proxy:
            start = time.monotonic()
            for data in TRIGGERS.values():
                with Client(proxy.port) as c:
                    c.send(data)
                    c.sock.close()  # leave at once: the proxy finds a closed peer
            for data in TRIGGERS.values():
                with Client(proxy.port) as c:
                    c.send(data)
                    assert c.response().status >= 400
            assert _answers(proxy.port)
            figures["abusive connections"] = 2 * len(TRIGGERS)
            figures["seconds"] = round(time.monotonic() - start, 3)
        assert proxy.errors == []
