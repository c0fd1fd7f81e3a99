"""The scenarios (a table) and the names of the reference targets."""

from __future__ import annotations

from dataclasses import dataclass

from standby_bench.configs import PAGE_64K_PATH, SMALL_PATH

DIRECT = "direct"  # the backend without a proxy: the ceiling
PEER = "haproxy-t1"  # HAProxy with one thread: the bar issue 3 sets for standby-w1
HEADLINE = "standby-w1"  # standby with one worker, LogLevel 0
LOGGED = "standby-w1-log"  # the same with LogLevel 1 access logging to a file


@dataclass(frozen=True, slots=True)
class LoadScenario:
    name: str
    title: str
    path: str
    connections: int
    close: bool  # a new connection per request (Connection: close)


LOAD_SCENARIOS: tuple[LoadScenario, ...] = tuple(
    LoadScenario(
        f"{page}-c{conns}-{'close' if close else 'ka'}",
        f"{label}, {conns} connection{'s' if conns > 1 else ''}, "
        f"{'a new connection per request' if close else 'keep-alive'}",
        path,
        conns,
        close,
    )
    for page, label, path in (
        ("small", "Small page (96 B)", SMALL_PATH),
        ("64k", "64 KiB page", PAGE_64K_PATH),
    )
    for conns in (50, 1)
    for close in (False, True)
)
UPLOAD = "upload"  # one streamed POST of the transfer size, timed, memory sampled
DOWNLOAD = "download"  # one GET of a file of the transfer size
TRANSFERS = (UPLOAD, DOWNLOAD)
IDLE = "idle"  # many idle keep-alive client connections held open
SCENARIO_NAMES: tuple[str, ...] = (*(s.name for s in LOAD_SCENARIOS), *TRANSFERS, IDLE)
# Targets the idle scenario runs against (it is slow: one round each).
IDLE_TARGETS = (HEADLINE, "standby", PEER, "nginx-w1")
