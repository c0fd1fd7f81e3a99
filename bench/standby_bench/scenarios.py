"""The scenarios (a table) and the names of the reference targets."""

from __future__ import annotations

from dataclasses import dataclass

from standby_bench.certs import KEY_KINDS, KEY_LABELS
from standby_bench.configs import PAGE_64K_PATH, SMALL_PATH

DIRECT = "direct"  # the backend without a proxy: the ceiling
PEER = "haproxy-t1"  # HAProxy with one thread: the bar issue 3 sets for standby-w1
HEADLINE = "standby-w1"  # standby with one worker, LogLevel 0
LOGGED = "standby-w1-log"  # the same with LogLevel 1 access logging to a file
# Issue 15 point 5: standby-w1 with two AddHeader and two HeadRemove (req/s >= 0.9x it).
SEED_EDITS = "seed-edits"


@dataclass(frozen=True, slots=True)
class LoadScenario:
    name: str
    title: str
    path: str
    connections: int
    close: bool  # a new connection per request (Connection: close)
    key: str | None = None  # over TLS with the certificate of this key kind; None: plain


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
# Over TLS (issue 14 §7), once per key kind: the keep-alive small page (wrk over https).
TLS_LOAD_SCENARIOS: tuple[LoadScenario, ...] = tuple(
    LoadScenario(
        f"tls-{key}-small-c50-ka",
        f"TLS ({KEY_LABELS[key]}): small page (96 B), 50 connections, keep-alive",
        SMALL_PATH,
        50,
        False,
        key,
    )
    for key in KEY_KINDS
)


@dataclass(frozen=True, slots=True)
class HandshakeScenario:
    """New TLS connections as fast as a few clients make them, each with one request."""

    name: str
    title: str
    key: str  # the certificate's key kind
    resume: bool  # False: full handshakes only; True: every one resumes the first's session


HANDSHAKE_SCENARIOS: tuple[HandshakeScenario, ...] = tuple(
    HandshakeScenario(
        f"tls-{key}-{'resumed' if resume else 'full'}",
        f"TLS ({KEY_LABELS[key]}): new connections, "
        f"{'resumed sessions' if resume else 'full handshakes'}",
        key,
        resume,
    )
    for key in KEY_KINDS
    for resume in (False, True)
)
# Idle TLS connections held open, once per key kind: RSS per connection.
TLS_IDLE = {key: f"tls-{key}-idle" for key in KEY_KINDS}
# Targets the TLS scenarios run against: every proxy that has a TLS listener in the bench.
TLS_TARGETS = (HEADLINE, "standby", PEER, "haproxy", "nginx-w1", "nginx")
UPLOAD = "upload"  # one streamed POST of the transfer size, timed, memory sampled
DOWNLOAD = "download"  # one GET of a file of the transfer size
TRANSFERS = (UPLOAD, DOWNLOAD)
IDLE = "idle"  # many idle keep-alive client connections held open
SCENARIO_NAMES: tuple[str, ...] = (
    *(s.name for s in LOAD_SCENARIOS),
    *TRANSFERS,
    IDLE,
    *(s.name for s in TLS_LOAD_SCENARIOS),
    *(s.name for s in HANDSHAKE_SCENARIOS),
    *TLS_IDLE.values(),
)
TLS_SCENARIO_NAMES = frozenset(
    (*(s.name for s in TLS_LOAD_SCENARIOS), *(s.name for s in HANDSHAKE_SCENARIOS))
) | frozenset(TLS_IDLE.values())
# Targets the idle scenario runs against (it is slow: one round each).
IDLE_TARGETS = (HEADLINE, "standby", PEER, "nginx-w1")
