"""The maintenance recipes of docs/operations.md, run as written: every `standbyctl` line of
each block against the installed program with its default workers, the operator's work (the
block's `#` lines) done for real on a backend process (stopped and started again, or frozen
with SIGSTOP as a paused VM is), while keep-alive clients send requests all the time. No
request may fail, and the visitors must be served where the recipe says."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.process.harness import running_standby
from tests.support import configs
from tests.support.harness import REPO, BackendProcess, free_port, wait_until
from tests.support.load import Load

pytestmark = pytest.mark.timeout(300)

OPERATIONS = REPO / "docs" / "operations.md"
SECTION = "### Maintenance recipes"
DEADLINE = 60.0  # generous: two worker processes and a backend process on two noisy cores
SERVED = 40  # requests a backend must serve to count as serving (a window, not a timing)
STANDBYCTL = Path(sys.executable).with_name("standbyctl")  # the installed command
KEYS = {"primary": "200 b'primary'", "standby": "200 b'standby'"}
ADDRESSES = {"primary": "/1/0/0", "standby": "/1/0/1"}  # with Control first, as in the guide

# What the operator's work (a block's comment lines) does to which backend, by recipe title.
# A new recipe in the guide needs its entry here, or test_every_recipe_has_its_work fails.
WORK = {
    "A WordPress upgrade on the primary": ("primary", "restart"),
    "A kernel upgrade on the primary": ("primary", "restart"),
    "A VM backup of the primary": ("primary", "freeze"),
    "Maintenance of the standby server": ("standby", "restart"),
}


def recipes() -> dict[str, list[str]]:
    """Each recipe's title and the lines of its shell block."""
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n### ", 1)[0]
    found = re.findall(r"^#### (.+?)\n\n```sh\n(.*?)```", section, re.S | re.M)
    return {title: block.splitlines() for title, block in found}


def config(sock: Path, port: int, primary: int, standby: int) -> str:
    # The guide's setup: Control first (so the listener is /1), the seed's service.
    return configs.primary_and_emergency(
        primary,
        standby,
        port=port,
        global_extra=f'Control "{sock}"\nAlive 1\nLogLevel 0',
        service_extra='HeadRequire "Host: www.example.com.*"',
    )


def standbyctl(sock: Path, line: str) -> None:
    words = shlex.split(line)
    assert words[0] == "standbyctl", line
    done = subprocess.run(
        [str(STANDBYCTL), "-s", str(sock), *words[1:]],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 0, f"{line}: {done.stderr}"


def sent(sock: Path, name: str) -> int:
    """The requests standby has sent to a backend, as the control socket counts them."""
    done = subprocess.run(
        [str(STANDBYCTL), "-s", str(sock), "--json", "list", ADDRESSES[name]],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["requests"])


@contextlib.contextmanager
def work(backend: BackendProcess, how: str) -> Iterator[None]:
    """The operator's work on a backend's server: it is gone (or frozen) inside the block."""
    if how == "freeze":
        assert backend.proc is not None
        backend.proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            backend.proc.send_signal(signal.SIGCONT)
        return
    port = backend.port
    backend.kill()
    try:
        yield
    finally:
        backend.port = port
        backend.start()


def test_every_recipe_has_its_work() -> None:
    found = recipes()
    assert set(found) == set(WORK)
    for lines in found.values():
        assert any(line.startswith("#") for line in lines)
        assert all(line.startswith(("#", "standbyctl ")) for line in lines)


@pytest.mark.parametrize("title", sorted(WORK))
def test_a_recipe_as_written_fails_no_request(title: str, tmp_path: Path) -> None:
    lines = recipes()[title]
    target, how = WORK[title]
    other = "standby" if target == "primary" else "primary"
    sock = tmp_path / "standby.sock"
    path = tmp_path / "standby.cfg"
    with (
        BackendProcess("primary") as primary,
        BackendProcess("standby") as standby,
    ):
        backends = {"primary": primary, "standby": standby}
        port = free_port()
        path.write_text(config(sock, port, primary.port, standby.port))
        with running_standby(path, deadline=DEADLINE), Load(port, 4, pace=0.005) as load:

            def served(name: str, more: int) -> None:
                start = load.count(KEYS[name])
                wait_until(lambda: load.count(KEYS[name]) >= start + more, DEADLINE, name)

            served("primary", SERVED)
            index = 0
            while index < len(lines):
                if not lines[index].startswith("#"):
                    standbyctl(sock, lines[index])
                    index += 1
                    continue
                while index < len(lines) and lines[index].startswith("#"):
                    index += 1
                # During the work, the other server serves and the target gets nothing:
                # no answer from it, and standby sends it no request at all.
                before = load.count(KEYS[target]), sent(sock, target)
                with work(backends[target], how):
                    served(other, SERVED)
                    assert (load.count(KEYS[target]), sent(sock, target)) == before
            # After the recipe the primary serves again (the probe finds it within Alive).
            served("primary", SERVED)
        assert load.failures(tuple(KEYS.values())) == {}, load.outcomes
