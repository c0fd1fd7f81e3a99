"""Dynamic backends with several workers, through the installed program: the supervisor
resolves (it owns health) and tells every worker, so all of them serve the same set as
the records change under load, and a worker started later (a restart after SIGKILL) gets
the set before it serves. A DNS server on loopback; the system's resolv.conf is never
read."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.dns.server import DnsServer
from tests.process.harness import children, running_standby
from tests.support.backend import Backend
from tests.support.harness import REPO, free_port, get, wait_until
from tests.support.load import Load

from standby.config.dynamic import RESOLV_CONF_ENV

pytestmark = pytest.mark.timeout(240)

DEADLINE = 90.0  # generous: forks on two noisy shared cores
TTL = 1
NAME = "app.example.test"
WORKERS = 2
FRESH = 30  # new connections per check: the kernel spreads them over both workers
RELOADED = "]: configuration reloaded"  # the supervisor's own line
REJECTED = "reload rejected, the running configuration stays"


@pytest.fixture(autouse=True)
def _no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RESOLV_CONF_ENV, "/nonexistent/standby-tests-never-read-resolv.conf")


@contextlib.contextmanager
def two_hosts() -> Iterator[tuple[Backend, Backend]]:
    with Backend("a") as a, Backend("b", a.port, host="127.0.0.2") as b:
        yield a, b


def write_config(path: Path, dns: DnsServer, listen: int, port: int) -> None:
    path.write_text(
        f"""Alive 1
LogLevel 0
Grace 10
Control "{path.parent / "ctl.sock"}"
Resolver
  ConfigText
    nameserver {dns.nameserver}
    options timeout:2
  End
  RetryInterval 1
End
ListenHTTP
  Address 127.0.0.1
  Port {listen}
  Service
    BackEnd
      Address "{NAME}"
      Port {port}
      Resolve all
    End
  End
End
"""
    )


def fresh(port: int) -> set[bytes]:
    """The bodies of FRESH requests, each on a new connection."""
    return {get(port).body for _ in range(FRESH)}


def test_every_worker_follows_the_records(tmp_path: Path) -> None:
    with DnsServer() as dns, two_hosts() as (a, _):
        dns.set(NAME, ("A", TTL, "127.0.0.1"))
        listen = free_port()
        path = tmp_path / "standby.cfg"
        write_config(path, dns, listen, a.port)
        with running_standby(path, WORKERS, deadline=DEADLINE) as running:
            wait_until(lambda: fresh(listen) == {b"a"}, DEADLINE, "a on every worker")
            with Load(listen, connections=4, pace=0.01) as load:
                dns.set(NAME, ("A", TTL, "127.0.0.2"))
                wait_until(lambda: fresh(listen) == {b"b"}, DEADLINE, "b on every worker")
                before = load.total()
                wait_until(lambda: load.total() > before + 20, DEADLINE, "traffic after")
            assert load.failures(("200 b'a'", "200 b'b'")) == {}
            workers = children(running.proc.pid)
            assert len(workers) == WORKERS
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            wait_until(
                lambda: (
                    victim not in children(running.proc.pid)
                    and len(children(running.proc.pid)) == WORKERS
                ),
                DEADLINE,
                "the worker restarted",
            )
            wait_until(lambda: fresh(listen) == {b"b"}, DEADLINE, "b on the new worker too")
            # The operator sees the backends DNS made (the supervisor's view; the Control
            # socket is listener 0 in poundctl's numbering).
            listing = subprocess.run(
                [sys.executable, "-m", "standby.control.ctl", "-s", str(tmp_path / "ctl.sock"),
                 "--json", "list", "/1/0"],
                cwd=REPO, capture_output=True, text=True, timeout=DEADLINE,
            )  # fmt: skip
            assert listing.returncode == 0, listing.stderr
            assert "127.0.0.2" in listing.stdout and "127.0.0.1" not in listing.stdout
            # A reload (new workers) keeps the template's backends: no gap, no failure.
            with Load(listen, connections=4, pace=0.01) as load:
                path.write_text(path.read_text().replace("Grace 10", "Grace 11"))
                reloads = running.stderr().count(RELOADED)
                running.signal(signal.SIGHUP)
                wait_until(lambda: running.stderr().count(RELOADED) > reloads, DEADLINE, "reloaded")
                before = load.total()
                wait_until(lambda: load.total() > before + 20, DEADLINE, "traffic after")
            assert load.failures(("200 b'b'",)) == {}
            assert fresh(listen) == {b"b"}
            # A bad Resolver: the reload is refused where the file says, the old one serves.
            good = path.read_text()
            path.write_text(good.replace(dns.nameserver, "dns.example.test"))
            running.signal(signal.SIGHUP)
            wait_until(lambda: REJECTED in running.stderr(), DEADLINE, "the reload refused")
            rejected = next(line for line in running.lines if REJECTED in line)
            assert f"{path}:7.16: bad nameserver" in rejected
            assert fresh(listen) == {b"b"}
