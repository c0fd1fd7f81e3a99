"""New TLS connections per second with ``openssl s_time``, full or resumed, counted and checked.

``s_time -new`` makes every connection a full handshake; ``s_time -reuse`` makes one, keeps
its session and offers it on every later connection (a TLS 1.3 ticket or a TLS 1.2 session
ID). Each connection sends ``GET / HTTP/1.0`` and reads the answer to its end (``-www /``:
TLS 1.3 tickets only reach a client that reads after the handshake). s_time prints one
character per connection: ``r`` when the server resumed the session, ``*`` (or a protocol
letter) when it made a full handshake. Those characters are counted, so a resumed figure
is only reported for connections that really resumed.

One s_time makes its connections one after another; S_TIME_CLIENTS of them run at once so
that a one-core server has several handshakes in flight, as it would with real visitors.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from standby_bench.net import HOST, BenchError
from standby_bench.procfs import die_with_parent

S_TIME_CLIENTS = 4  # s_time processes at once
S_TIME_SLACK = 60.0  # s past the duration before a stuck s_time is killed
RESUMED_MARK = "r"
# What s_time prints for a connection that was not resumed: its protocol when that is old
# ("t" TLS 1.0, "3" SSL 3), else "*".
FULL_MARKS = "*t3"
# A line of nothing but those characters: s_time's progress (its other lines are words).
_PROGRESS = re.compile(rf"^[{re.escape(FULL_MARKS + RESUMED_MARK)}]+$", re.MULTILINE)
_SUMMARY = re.compile(r"^\s*\d+ connections in ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class HandshakeCount:
    full: int
    resumed: int

    @property
    def connections(self) -> int:
        return self.full + self.resumed

    def __add__(self, other: HandshakeCount) -> HandshakeCount:
        return HandshakeCount(self.full + other.full, self.resumed + other.resumed)


def s_time_argv(port: int, duration: int, *, resume: bool) -> list[str]:
    return [
        "openssl",
        "s_time",
        "-connect",
        f"{HOST}:{port}",
        "-reuse" if resume else "-new",
        "-time",
        str(duration),
        "-www",
        "/",
    ]


def parse_s_time(output: str) -> HandshakeCount:
    """Count the per-connection characters of one s_time run (the lines before its summary
    made of nothing else). s_time's -reuse run makes its first connection silently."""
    summary = _SUMMARY.search(output)
    if summary is None:
        raise ValueError("s_time output without its summary")
    marks = "".join(_PROGRESS.findall(output[: summary.start()]))
    resumed = marks.count(RESUMED_MARK)
    return HandshakeCount(len(marks) - resumed, resumed)


def run_s_time(port: int, duration: int, *, resume: bool) -> tuple[HandshakeCount, float]:
    """S_TIME_CLIENTS s_time runs at once against ``port``: the connections they counted
    and the wall-clock seconds from the first start to the last exit."""
    if shutil.which("openssl") is None:
        raise BenchError("openssl is missing (Debian: apt-get install openssl)")
    argv = s_time_argv(port, duration, resume=resume)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )
        for _ in range(S_TIME_CLIENTS)
    ]
    outputs: list[tuple[int, str, str]] = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=duration + S_TIME_SLACK)
            outputs.append((proc.returncode, out, err))
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"s_time did not finish within {duration + S_TIME_SLACK:g} s") from exc
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    seconds = time.monotonic() - started
    total = HandshakeCount(0, 0)
    for code, out, err in outputs:
        if code != 0:
            raise BenchError(f"s_time failed ({code}): {err.strip()[-500:]}")
        try:
            total += parse_s_time(out)
        except ValueError as exc:
            raise BenchError(f"{exc}:\n{out[-500:]}") from exc
    return total, seconds
