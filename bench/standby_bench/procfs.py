"""What a target's processes cost, read from /proc (Linux only).

CPU is utime + stime of every process in the target's tree (a process's line in
/proc/PID/stat already covers all its threads). Memory is the sum of VmRSS over the tree,
sampled during a run by a background thread; the table reports the largest sum seen.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import resource
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

RSS_SAMPLE_INTERVAL = 0.05  # s between VmRSS samples: catches short peaks, costs ~nothing

_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1  # prctl option: a signal for this process when its parent dies
# Looked up once here, so the forked child (maybe forked while the sampler thread runs) only
# makes the call and never loads a library.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent() -> None:
    """For ``preexec_fn``: the child gets SIGTERM if the benchmark dies, even by SIGKILL."""
    _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses):
    index 0 is the state, 1 the parent pid, 11/12 user/system time in clock ticks."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                children.setdefault(int(stat_fields(int(entry))[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat_fields(pid)
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def _status_kib(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/status").read_text()
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        return int(match.group(1)) if match else 0
    return 0


def rss_kib(pids: Sequence[int]) -> int:
    """Resident memory now, summed over the processes (shared pages count once per process)."""
    return sum(_status_kib(pid, "VmRSS") for pid in pids)


class RssSampler:
    """Samples ``rss_kib(pids())`` in a thread while the ``with`` block runs; ``peak_kib`` is
    the largest sum seen (the process list is re-read each time, so restarts are followed)."""

    def __init__(self, pids: Callable[[], Sequence[int]]) -> None:
        self._pids = pids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self.peak_kib = 0

    def sample(self) -> None:
        self.peak_kib = max(self.peak_kib, rss_kib(self._pids()))

    def _loop(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_INTERVAL):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (children inherit it); as root
    the hard limit may be raised too. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    new_hard = hard if hard == resource.RLIM_INFINITY or hard >= wanted else wanted
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, new_hard))
        return wanted
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
