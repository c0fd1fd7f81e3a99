"""Issue 16, logs that fit: the installed standby writes its log file from several workers,
reopens it on SIGUSR1 (relayed to the workers) and under the real logrotate with the
shipped snippet; journald's priorities from outside; SIGUSR1 without a log file."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.harness import (
    DEADLINE,
    Backend,
    Standby,
    answers,
    children,
    free_port,
    http_get,
    running_standby,
    wait_for,
)
from tests.process.test_lifecycle import _group_for_nobody

pytestmark = pytest.mark.timeout(300)

WORKERS = 3  # several processes appending to one file
BATCH = 120  # requests before and after a rotation: enough to spread over the workers
SNIPPET = Path(__file__).resolve().parents[2] / "contrib" / "logrotate" / "standby"
# A whole line of the file: standby's time stamp and pid, then the message.
LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} standby\[(\d+)\]: (.*)")
REOPENED = "reopened"


def config(tmp: Path, port: int, backend: int, extra: str = "") -> Path:
    path = tmp / "standby.cfg"
    path.write_text(
        f"Daemon 0\nLogLevel 1\nGrace 5\n{extra}"
        f"ListenHTTP\n  Address 127.0.0.1\n  Port {port}\n  Service\n"
        f"    BackEnd\n      Address 127.0.0.1\n      Port {backend}\n    End\n  End\nEnd\n"
    )
    return path


def lines(path: Path) -> list[tuple[int, str]]:
    """(pid, message) of every line; a line not whole fails the test."""
    if not path.exists():
        return []
    out = []
    for raw in path.read_text().splitlines():
        match = LINE.fullmatch(raw)
        assert match is not None, f"a line split or mixed: {raw!r}"
        out.append((int(match.group(1)), match.group(2)))
    return out


def requested(path: Path, tag: str) -> list[str]:
    """The targets of the access lines for requests tagged ``tag``."""
    return re.findall(rf"GET (/{tag}/\d+) HTTP", text(path))


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.close()


@contextlib.contextmanager
def started(cfg: Path, log: Path, workers: int, *options: str) -> Iterator[Standby]:
    """The installed standby on ``cfg`` with ``workers`` and ``options`` until the block
    ends; started means ``log`` says so and every worker is there. Whatever it forked is
    killed at the end."""
    command = [sys.executable, "-m", "standby", "-f", str(cfg), "--workers", str(workers)]
    proc = subprocess.Popen(
        [*command, *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=str(cfg.parent),
    )
    running = Standby(proc)
    try:
        wait_for(lambda: "started (pid" in text(log) or proc.poll() is not None, "start")
        assert proc.poll() is None, running.stderr()
        wait_for(lambda: len(children(proc.pid)) == workers, "every worker")
        yield running
    finally:
        pids = children(proc.pid)
        running.kill()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def logging_to_file(
    cfg: Path, log: Path, *options: str
) -> contextlib.AbstractContextManager[Standby]:
    """``WORKERS`` workers writing ``log`` (``--log-file``, which wins over ``-e``)."""
    return started(cfg, log, WORKERS, "-e", "--log-file", str(log), *options)


def traffic(port: int, tag: str) -> None:
    for i in range(BATCH):
        assert http_get(port, f"/{tag}/{i}".encode()).endswith(b"hello")


def expected(tag: str) -> list[str]:
    return [f"/{tag}/{i}" for i in range(BATCH)]


def rotated_by_hand(log: Path, pid: int) -> Path:
    old = log.with_name(log.name + ".1")
    log.rename(old)
    os.kill(pid, signal.SIGUSR1)
    return old


def reopened_everywhere(log: Path) -> bool:
    """The supervisor and every worker said so in the new file."""
    return len({pid for pid, text in lines(log) if REOPENED in text}) == WORKERS + 1


def check_rotation(log: Path, old: Path, port: int) -> None:
    wait_for(lambda: reopened_everywhere(log), "every process reopened the file")
    traffic(port, "after")
    wait_for(lambda: len(requested(log, "after")) == BATCH, "the new requests' lines")
    # None lost, none twice, none in the wrong file, none split (lines() checks each).
    assert sorted(requested(old, "before")) == sorted(expected("before"))
    assert requested(old, "after") == []
    assert sorted(requested(log, "after")) == sorted(expected("after"))
    assert requested(log, "before") == []
    lines(old)
    served = {pid for pid, text in lines(log) + lines(old) if "GET /" in text}
    assert len(served) > 1, "the requests all went to one worker: the test proves less"


def test_workers_append_to_the_log_file_and_sigusr1_reopens_it(
    tmp_path: Path, backend: Backend
) -> None:
    port = free_port()
    log = tmp_path / "standby.log"
    with logging_to_file(config(tmp_path, port, backend.port), log) as running:
        traffic(port, "before")
        wait_for(lambda: len(requested(log, "before")) == BATCH, "every access line")
        old = rotated_by_hand(log, running.proc.pid)
        check_rotation(log, old, port)
        assert running.stderr() == ""  # everything went to the file


def test_the_log_file_keyword(tmp_path: Path, backend: Backend) -> None:
    """``LogFile`` in the file, without -e: diagnostics and access lines go there."""
    port = free_port()
    log = tmp_path / "from-config.log"
    cfg = config(tmp_path, port, backend.port, f'LogFile "{log}"\n')
    with started(cfg, log, 2, "-F") as running:
        http_get(port, b"/k/1")
        wait_for(lambda: requested(log, "k") == ["/k/1"], "the access line")
        assert running.stderr() == ""


def logrotate() -> str:
    found = shutil.which("logrotate", path=os.defpath + ":/usr/sbin:/sbin")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("logrotate is not installed (.ci/run installs it)")
        pytest.skip("logrotate is not installed")
    return found


def test_the_real_logrotate_with_the_shipped_snippet(tmp_path: Path, backend: Backend) -> None:
    program = logrotate()
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    log = logs / "standby.log"
    pid_file = tmp_path / "standby.pid"
    # The snippet as shipped, its paths moved to this test's directory and its owner to
    # root (no `standby` user on a test machine).
    snippet = SNIPPET.read_text()
    for shipped, here in (
        ("/var/log/standby/", f"{logs}/"),
        ("/run/standby/standby.pid", str(pid_file)),
        ("create 0640 standby adm", "create 0640 root root"),
    ):
        assert shipped in snippet
        snippet = snippet.replace(shipped, here)
    conf = tmp_path / "logrotate.conf"
    conf.write_text(snippet)
    state = tmp_path / "logrotate.state"
    cfg = config(tmp_path, port, backend.port)
    with logging_to_file(cfg, log, "-p", str(pid_file)) as running:
        wait_for(lambda: text(pid_file).strip() == str(running.proc.pid), "the pid file")
        traffic(port, "before")
        wait_for(lambda: len(requested(log, "before")) == BATCH, "every access line")
        done = subprocess.run(
            [program, "--force", "--state", str(state), str(conf)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert done.returncode == 0, done.stderr
        old = logs / "standby.log.1"  # delaycompress: the first rotation stays plain
        assert old.exists(), sorted(p.name for p in logs.iterdir())
        check_rotation(log, old, port)
        assert oct(log.stat().st_mode & 0o777) == "0o640"  # created by logrotate
        assert running.proc.poll() is None


@pytest.mark.parametrize("workers", [1, 2])
def test_sigusr1_without_a_log_file_does_not_stop_standby(
    tmp_path: Path, backend: Backend, workers: int
) -> None:
    port = free_port()
    cfg = config(tmp_path, port, backend.port)
    with running_standby(cfg, workers) as running:
        forked = workers if workers > 1 else 0
        wait_for(lambda: len(children(running.proc.pid)) == forked, "the workers")
        for pid in [running.proc.pid, *children(running.proc.pid)]:
            os.kill(pid, signal.SIGUSR1)  # the supervisor and each worker directly
        assert answers(port)
        running.signal(signal.SIGTERM)
        assert running.wait() == 0, running.stderr()
        assert "killed" not in running.stderr() and "SIGUSR1" not in running.stderr()


def test_journald_sees_priorities_from_the_installed_program(
    tmp_path: Path, backend: Backend
) -> None:
    """stderr is a file whose device and inode $JOURNAL_STREAM names, as systemd does."""
    port = free_port()
    cfg = config(tmp_path, port, backend.port)
    err = tmp_path / "journal"
    with open(err, "w") as stream:
        info = os.fstat(stream.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "standby", "-f", str(cfg), "-e", "--workers", "2"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stream,
            env=env,
        )
        try:
            wait_for(lambda: answers(port) or proc.poll() is not None, "ready")
            assert proc.poll() is None, err.read_text()
            http_get(port, b"/j/1")
            wait_for(lambda: "GET /j/1 HTTP" in err.read_text(), "the access line")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(DEADLINE) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(DEADLINE)
    logged = err.read_text().splitlines()
    assert logged, "nothing logged"
    assert all(re.fullmatch(r"<[2-7]>\S.*", line) for line in logged), logged
    assert any(line.startswith("<6>") and "GET /j/1 HTTP" in line for line in logged)
    assert any(line.startswith("<6>") and "started (pid" in line for line in logged)
    # The lone backend's advice (issue 16 point 6) is a warning.
    assert any(line.startswith("<4>") and ": warning: " in line for line in logged)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_reopened_inside_the_jail_as_the_service_user(tmp_path: Path, backend: Backend) -> None:
    """Opened as root before ``RootJail`` and ``User``; reopened by name from the directory
    kept open, inside the jail, by processes that are ``nobody`` by then."""
    jail = tmp_path / "jail"
    jail.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    os.chown(logs, pwd.getpwnam("nobody").pw_uid, -1)  # as /var/log/standby is standby's
    log = logs / "standby.log"
    port = free_port()
    settings = f'User "nobody"\nGroup "{_group_for_nobody()}"\nRootJail "{jail}"\nLogFile "{log}"\n'
    with started(config(tmp_path, port, backend.port, settings), log, WORKERS) as running:
        assert os.readlink(f"/proc/{running.proc.pid}/root") == str(jail)
        traffic(port, "before")
        wait_for(lambda: len(requested(log, "before")) == BATCH, "every access line")
        old = rotated_by_hand(log, running.proc.pid)
        check_rotation(log, old, port)
        assert log.stat().st_uid == pwd.getpwnam("nobody").pw_uid  # made by the reopen
