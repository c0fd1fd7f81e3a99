"""A reload whose new workers die before they are ready is rolled back (issue 13 point 7),
and the operator's switches made while such a reload waits survive it (point 6a). Real
processes with two workers on loopback.

What makes the new workers die comes from outside standby: a ``sitecustomize.py`` on the
standby process's PYTHONPATH registers an after-fork hook (the supervisor forks only its
workers) that, while a *hold* file exists, keeps the child waiting, and then, if a *die*
file exists, makes it exit with status 3. Both files are made by the test after standby
started, so only the workers of the reload under test are affected."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_workers_ops import (
    DEADLINE,
    A,
    B,
    ctl,
    lines_with,
    two_backends,
)
from tests.process.harness import Standby, children, running_standby
from tests.support.backend import Backend
from tests.support.harness import free_port, get, wait_until
from tests.support.load import Load

pytestmark = pytest.mark.timeout(240)

WORKERS = 2
DIE_STATUS = 3
REJECTED = "reload rejected, the running configuration stays"
RELOADED = "]: configuration reloaded"
SERVICE = "/1/0"  # Control comes first in two_backends(): the listener is /1
SITECUSTOMIZE = f'''\
"""Test-only: a forked child waits while {{hold}} exists, then exits if {{die}} exists."""
import os
import time

_HOLD = os.environ["STANDBY_TEST_HOLD"]
_DIE = os.environ["STANDBY_TEST_DIE"]
_LIMIT = {DEADLINE}  # a hold never outlives the test


def _child():
    end = time.monotonic() + _LIMIT
    while os.path.exists(_HOLD) and time.monotonic() < end:
        time.sleep(0.05)  # polling a file the test removes
    if os.path.exists(_DIE):
        os._exit({DIE_STATUS})


os.register_at_fork(after_in_child=_child)
'''


@contextlib.contextmanager
def hooked_standby(config: Path, hooks: Path) -> Iterator[Standby]:
    """standby with two workers, with the test's sitecustomize on its PYTHONPATH."""
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hooks), env.get("PYTHONPATH")) if p)
    env["STANDBY_TEST_HOLD"] = str(hooks / "hold")
    env["STANDBY_TEST_DIE"] = str(hooks / "die")
    with running_standby(config, WORKERS, env=env, deadline=DEADLINE) as running:
        yield running


def service_enabled(sock: Path) -> bool:
    out = ctl(sock, "--json", "list", SERVICE)
    assert out.returncode == 0, out.stderr
    found: bool = json.loads(out.stdout)["enabled"]
    return found


def test_new_workers_that_die_roll_the_reload_back_and_the_old_ones_serve_throughout(
    tmp_path: Path,
) -> None:
    sock = tmp_path / "control.sock"
    config = tmp_path / "pound.cfg"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    port = free_port()
    with Backend("a") as a, Backend("b") as b:
        config.write_text(two_backends(sock, port, a.port, b.port, pb=0))  # a only
        with hooked_standby(config, hooks) as running, Load(port, 8, pace=0.005) as load:
            wait_until(lambda: load.count(A) >= 100, DEADLINE, "load on a")
            (hooks / "die").touch()
            config.write_text(two_backends(sock, port, a.port, b.port, pa=0))  # b only
            running.signal(signal.SIGHUP)
            wait_until(lambda: lines_with(running, REJECTED) == 1, DEADLINE, "rollback")
            rejected = next(line for line in running.lines if REJECTED in line)
            assert f"exited with status {DIE_STATUS}" in rejected and "new worker" in rejected
            # The control socket still answers, the old configuration still serves.
            assert service_enabled(sock)
            seen = load.count(A)
            wait_until(lambda: load.count(A) >= seen + 100, DEADLINE, "a still serving")
            out = ctl(sock, "reload")  # the same through the control socket
            assert out.returncode == 1 and f"exited with status {DIE_STATUS}" in out.stderr
            assert load.count(B) == 0
            wait_until(lambda: len(children(running.proc.pid)) == WORKERS, DEADLINE, "2 left")
            # A later good reload works.
            (hooks / "die").unlink()
            out = ctl(sock, "reload")
            assert out.returncode == 0, out.stdout + out.stderr
            wait_until(lambda: load.count(B) >= 100, DEADLINE, "traffic on b")
            served_by_a = load.count(A)
            seen = load.count(B)
            wait_until(lambda: load.count(B) >= seen + 100, DEADLINE, "more traffic on b")
            assert load.count(A) == served_by_a
            assert lines_with(running, RELOADED) == 1
        assert load.failures((A, B)) == {}, load.outcomes
        assert "Traceback" not in running.stderr()


def test_a_switch_made_while_a_reload_waits_survives_its_rollback(tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    config = tmp_path / "pound.cfg"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    port = free_port()
    with Backend("a") as a, Backend("b") as b:
        config.write_text(two_backends(sock, port, a.port, b.port, pb=0))
        with hooked_standby(config, hooks) as running:
            assert get(port).body == b"a"
            (hooks / "hold").touch()
            (hooks / "die").touch()
            config.write_text(two_backends(sock, port, a.port, b.port, pa=0))
            running.signal(signal.SIGHUP)
            # The new workers exist and wait: the reload is pending.
            wait_until(lambda: len(children(running.proc.pid)) == 2 * WORKERS, DEADLINE, "pending")
            out = ctl(sock, "disable", SERVICE)
            assert out.returncode == 0, out.stderr
            # It applies to the configuration serving now: every old worker has it.
            assert not service_enabled(sock)
            wait_until(lambda: get(port).status == 503, DEADLINE, "the service off")
            assert all(get(port).status == 503 for _ in range(10))
            (hooks / "hold").unlink()  # the new workers die: rollback
            wait_until(lambda: lines_with(running, REJECTED) == 1, DEADLINE, "rollback")
            assert not service_enabled(sock)  # the switch survived
            assert all(get(port).status == 503 for _ in range(10))
            assert ctl(sock, "enable", SERVICE).returncode == 0
            wait_until(lambda: get(port).body == b"a", DEADLINE, "the service back")
            # A successful reload starts without switches, as in one process.
            assert ctl(sock, "disable", SERVICE).returncode == 0
            (hooks / "die").unlink()
            out = ctl(sock, "reload")
            assert out.returncode == 0, out.stdout + out.stderr
            assert service_enabled(sock)
            wait_until(lambda: get(port).body == b"b", DEADLINE, "the new configuration")
        assert "Traceback" not in running.stderr()
