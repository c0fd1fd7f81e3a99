"""Abusive TLS clients (issue 14, point 6): plain HTTP sent to a TLS port, TLS sent to a plain
port, clients that stall in the handshake, an oversized ClientHello, client-initiated
renegotiation and handshake garbage. standby runs as the installed program with its default
worker count, one plain and one HTTPS listener in front of a real backend; two canaries (one
over TLS, one plain) keep requesting meanwhile. Each scenario records its figures
(``docs/robustness.md``) and checks that the abuse ends, reaches no backend, leaks no
descriptor, raises nothing unhandled, and disturbs neither canary."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import socket
import ssl
import statistics
import struct
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.robustness.report import Scenario
from tests.robustness.tools.canary import Canary, CanaryStats
from tests.robustness.tools.resources import ProxyProcess, fd_count, settles, status_kib
from tests.robustness.tools.swarm import Ending, slow_swarm
from tests.robustness.tools.tls import (
    HANDSHAKE_CLIENT_HELLO,
    MAX_RECORD,
    Pki,
    TlsClient,
    client_hello,
    make_pki,
    oversized_client_hello,
    record,
    renegotiate,
)
from tests.support.backend import Backend
from tests.support.harness import DEADLINE, Client, free_port, wait_until

pytestmark = pytest.mark.timeout(300)

# `Client 2`: the deadline of a request head, and of a TLS handshake on an HTTPS listener.
CLIENT_TIMEOUT = 2
BACKEND_TIMEOUT = 3  # `TimeOut`
# Slack on top of a deadline before a connection counts as held: sweeps, 2 noisy cores.
SLACK = 6.0
# Each abusive client gives up waiting for the proxy to close after this long.
GIVE_UP = CLIENT_TIMEOUT + SLACK + 10
# Both canaries must stay at least this successful under abuse (as in test_clients.py).
CANARY_MIN_SUCCESS = 0.999
# Quick abuse is repeated for this long, so that each canary makes ~150 requests meanwhile
# (DEFAULT_RATE 50/s), and at most this many rounds.
ABUSE_SECONDS = 3.0
ABUSE_ROUNDS = 50
# Abusive clients per round of a scenario (per kind where a scenario has kinds).
SWARM = 100
STALLERS = 100  # per kind of stall (silent, half a ClientHello)
OVERSIZED_CLIENTS = 40
OVERSIZED_BYTES = 1024 * 1024  # sent of the 16 MiB the ClientHello announces
# What the proxy's processes may gain in all while the oversized ClientHellos arrive:
# OpenSSL refuses a ClientHello past its limit (about 128 KiB) without buffering the rest,
# so 40 of them need well under this; buffering each whole would take 40 MiB and more.
MAX_OVERSIZED_GROWTH_KIB = 32 * 1024
RENEGOTIATIONS = 20
RENEGOTIATION_THREADS = 4
GARBAGE_CLIENTS = 40  # per kind of garbage
GARBAGE_SEED = 14  # the random bytes are the same on every run
# Descriptors the proxy's processes may hold beyond their count before a scenario once it
# is over (its reapers and pools settle; connections of the canaries are closed by then).
FD_SLACK = 4

CONFIG = """
Client {client}
TimeOut {timeout}
ListenHTTP
  Address 127.0.0.1
  Port {{port}}
  Service
    BackEnd
      Address 127.0.0.1
      Port {backend}
    End
  End
End
ListenHTTPS
  Address 127.0.0.1
  Port {tls_port}
  Cert "{cert}"
  Service
    BackEnd
      Address 127.0.0.1
      Port {backend}
    End
  End
End
"""

REQUEST = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"


@dataclass
class Setup:
    proxy: ProxyProcess
    tls_port: int
    pki: Pki
    backend: Backend

    def tls_client(self, timeout: float = DEADLINE) -> TlsClient:
        return TlsClient(self.tls_port, timeout=timeout, context=self.pki.client_context())

    def pids(self) -> list[int]:
        return process_tree(self.proxy.pid)

    def rss_kib(self) -> int:
        return sum(status_kib(pid, "VmRSS") for pid in self.pids())

    def fds(self) -> int:
        return sum(fd_count(pid) for pid in self.pids())


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants now (the supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(raw[raw.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _answers_over_tls(setup: Setup) -> bool:
    try:
        with setup.tls_client(timeout=5) as client:
            return client.request("/").status == 200
    except (OSError, ConnectionError, ValueError):
        return False


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("tls")
    pki = make_pki(workdir)
    tls_port = free_port()
    with Backend("app") as backend:
        text = CONFIG.format(
            client=CLIENT_TIMEOUT,
            timeout=BACKEND_TIMEOUT,
            backend=backend.port,
            tls_port=tls_port,
            cert=pki.cert_pem,
        )
        # The installed program with its default worker count (one per CPU).
        with ProxyProcess(text, workdir, workers=None) as proxy:
            s = Setup(proxy, tls_port, pki, backend)
            wait_until(lambda: _answers_over_tls(s), what="the HTTPS listener answering")
            yield s
            assert not proxy.unhandled(), proxy.unhandled()[:3]


class Watch:
    """Both canaries, the backend's request count and the proxy's descriptors around one
    scenario; ``check`` records what an ordinary visitor saw and what the abuse left."""

    def __init__(self, setup: Setup, scenario: Scenario) -> None:
        self.setup = setup
        self.scenario = scenario
        self.tls = Canary(
            setup.tls_port,
            connect=functools.partial(TlsClient, context=setup.pki.client_context()),
        )
        self.plain = Canary(setup.proxy.port)
        self.requests0 = 0
        self.fds0 = 0
        self.rss0 = 0
        self.unhandled0 = 0

    def __enter__(self) -> Watch:
        self.requests0 = self.setup.backend.requests
        self.fds0 = self.setup.fds()
        self.rss0 = self.setup.rss_kib()
        self.unhandled0 = len(self.setup.proxy.unhandled())
        self.tls.start()
        self.plain.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.tls.stop()
        self.plain.stop()

    def check(self, reached_backend_ok: int = 0) -> None:
        sc, setup = self.scenario, self.setup
        tls, plain = self.tls.stats(), self.plain.stats()
        rss = setup.rss_kib()
        settled, fds = settles(setup.fds, self.fds0 + FD_SLACK)
        sc.figure(
            **tls.figures("TLS canary"),
            **plain.figures("plain canary"),
            proxy_processes=len(setup.pids()),
            rss_before_mib=round(self.rss0 / 1024, 1),
            rss_after_mib=round(rss / 1024, 1),
        )
        for name, stats in (("TLS", tls), ("plain", plain)):
            _check_canary(sc, name, stats)
        forwarded = setup.backend.requests - self.requests0 - tls.successes - plain.successes
        sc.check(
            forwarded <= reached_backend_ok, f"{forwarded} abusive requests reached the backend"
        )
        sc.check(settled, f"descriptors of the proxy {fds} > {self.fds0} + {FD_SLACK} after")
        unhandled = setup.proxy.unhandled()[self.unhandled0 :]
        sc.check(not unhandled, f"unhandled in the proxy: {unhandled[:2]}")


def _check_canary(sc: Scenario, name: str, stats: CanaryStats) -> None:
    sc.check(stats.attempts > 0, f"the {name} canary made no request")
    sc.check(
        stats.success_rate >= CANARY_MIN_SUCCESS,
        f"{name} canary success {stats.success_rate:.4f} ({stats.failures})",
    )


def _endings_figures(sc: Scenario, endings: Sequence[Ending], prefix: str = "") -> list[float]:
    """Figures of a swarm; the seconds after which the proxy ended each connection."""
    times = sorted(e.after for e in endings if e.how in ("eof", "reset"))
    sc.figure(
        **{
            f"{prefix}connections": len(endings),
            f"{prefix}closed by the proxy": len(times),
            f"{prefix}close p50 s": round(statistics.median(times), 2) if times else -1,
            f"{prefix}close max s": round(times[-1], 2) if times else -1,
        }
    )
    return times


def _swarm(port: int, count: int, pieces: Sequence[bytes]) -> list[Ending]:
    """Swarms of ``count`` clients sending ``pieces`` at once, one after another for at least
    ABUSE_SECONDS (so the canaries make enough requests meanwhile), at most ABUSE_ROUNDS."""
    endings: list[Ending] = []
    started = time.monotonic()
    for _ in range(ABUSE_ROUNDS):
        endings += asyncio.run(slow_swarm(port, count, pieces, 0.0, GIVE_UP))
        if time.monotonic() - started >= ABUSE_SECONDS:
            break
    return endings


def test_plain_http_sent_to_the_tls_port(setup: Setup, scenario: Scenario) -> None:
    with Watch(setup, scenario) as watch:
        endings = _swarm(setup.tls_port, SWARM, [REQUEST])
    times = _endings_figures(scenario, endings)
    held = [e for e in endings if e.how == "held"]
    answers = {e.response[:12] for e in endings if e.response}
    scenario.figure(answered_with_bytes=sum(bool(e.response) for e in endings))
    scenario.note(
        f"Rounds of {SWARM} clients at once for {ABUSE_SECONDS:g}s: each sends a plain HTTP "
        "request to the HTTPS listener and waits; "
        "OpenSSL reads it as a broken record and the connection ends."
    )
    scenario.check(not held, f"{len(held)} connections still open after {GIVE_UP}s")
    scenario.check(bool(times) and times[-1] <= SLACK, f"closed within {SLACK:g}s")
    scenario.check(
        not any(a.startswith(b"HTTP/1.1 2") for a in answers), f"a success answer: {answers}"
    )
    watch.check()
    scenario.finish()


def test_tls_sent_to_the_plain_port(setup: Setup, scenario: Scenario) -> None:
    hello = client_hello(setup.pki.client_context())
    with Watch(setup, scenario) as watch:
        endings = _swarm(setup.proxy.port, SWARM, [hello])
        started = time.monotonic()
        refused: str | None = None
        try:
            TlsClient(setup.proxy.port, timeout=GIVE_UP, context=setup.pki.client_context()).close()
        except (ssl.SSLError, OSError) as exc:
            refused = type(exc).__name__
        failed_after = time.monotonic() - started
    times = _endings_figures(scenario, endings)
    held = [e for e in endings if e.how == "held"]
    statuses = {e.status for e in endings}
    scenario.figure(real_client_failed_after_s=round(failed_after, 2))
    scenario.note(
        f"Rounds of {SWARM} clients at once for {ABUSE_SECONDS:g}s: each sends a real "
        f"ClientHello ({len(hello)} bytes, Python's ssl) to the "
        "plain listener; then one real TLS client tries a handshake there."
    )
    scenario.check(not held, f"{len(held)} connections still open after {GIVE_UP}s")
    scenario.check(bool(times) and times[-1] <= SLACK, f"closed within {SLACK:g}s")
    scenario.check(statuses <= {400, None}, f"400 or a plain close, got {statuses}")
    # The handshake against a plain port must fail, and quickly, not wait out a timeout.
    scenario.check(refused is not None, "a TLS handshake succeeded on the plain port")
    scenario.check(failed_after <= SLACK, f"the real TLS client failed after {failed_after:.1f}s")
    watch.check()
    scenario.finish()


def test_handshake_stalled_closed_by_client_timeout(setup: Setup, scenario: Scenario) -> None:
    hello = client_hello(setup.pki.client_context())
    half = hello[: len(hello) // 2]

    async def both() -> tuple[list[Ending], list[Ending]]:
        silent = slow_swarm(setup.tls_port, STALLERS, [], 0.0, GIVE_UP)
        partial = slow_swarm(setup.tls_port, STALLERS, [half], 0.0, GIVE_UP)
        a, b = await asyncio.gather(silent, partial)
        return a, b

    with Watch(setup, scenario) as watch:
        silent, partial = asyncio.run(both())
    limit = CLIENT_TIMEOUT + SLACK
    scenario.note(
        f"`Client {CLIENT_TIMEOUT}`: {STALLERS} clients connect to the HTTPS listener and send "
        f"nothing, {STALLERS} send half a ClientHello ({len(half)} bytes) and stall."
    )
    for prefix, endings in (("silent ", silent), ("half hello ", partial)):
        times = _endings_figures(scenario, endings, prefix)
        held = [e for e in endings if e.how == "held"]
        scenario.check(not held, f"{prefix}{len(held)} connections still open after {GIVE_UP}s")
        scenario.check(bool(times) and times[-1] <= limit, f"{prefix}closed within {limit:g}s")
        # Closed by the handshake deadline, not at once: nothing else ends them.
        scenario.check(
            bool(times) and times[0] >= CLIENT_TIMEOUT / 2,
            f"{prefix}first closed after {times[0] if times else -1:.2f}s",
        )
    watch.check()
    scenario.finish()


def test_oversized_client_hello(setup: Setup, scenario: Scenario) -> None:
    pieces = list(oversized_client_hello(OVERSIZED_BYTES))
    with Watch(setup, scenario) as watch:
        peak0 = setup.rss_kib()
        endings = _swarm(setup.tls_port, OVERSIZED_CLIENTS, pieces)
        growth = setup.rss_kib() - peak0
    times = _endings_figures(scenario, endings)
    held = [e for e in endings if e.how == "held"]
    sent = sorted(e.sent for e in endings)
    scenario.figure(
        bytes_sent_max=sent[-1],
        bytes_sent_p50=int(statistics.median(sent)),
        rss_growth_kib=growth,
    )
    scenario.note(
        f"Rounds of {OVERSIZED_CLIENTS} clients at once for {ABUSE_SECONDS:g}s: each sends a "
        "ClientHello that announces 16 MiB, "
        f"{OVERSIZED_BYTES >> 20} MiB of it in full records as fast as the proxy takes them."
    )
    scenario.check(not held, f"{len(held)} connections still open after {GIVE_UP}s")
    scenario.check(bool(times) and times[-1] <= SLACK, f"closed within {SLACK:g}s")
    # What each client got to send is a figure, not a check: the kernel's loopback buffers
    # (the proxy's receive buffer grows with its read rate, to megabytes) take the whole
    # MiB whenever the loaded machine delays the proxy a few milliseconds, however early
    # it refuses. That the proxy ends every connection at once, holds none and keeps its
    # memory are the checks.
    scenario.check(
        growth <= MAX_OVERSIZED_GROWTH_KIB, f"RSS grew {growth} KiB (> {MAX_OVERSIZED_GROWTH_KIB})"
    )
    watch.check()
    scenario.finish()


def test_client_renegotiation_refused(setup: Setup, scenario: Scenario) -> None:
    with Watch(setup, scenario) as watch, ThreadPoolExecutor(RENEGOTIATION_THREADS) as pool:
        results = list(pool.map(lambda _: renegotiate(setup.tls_port), range(RENEGOTIATIONS)))
    renegotiated = [r for r in results if r.server_hellos > 1]
    served_first = sum(r.answers_before >= 1 for r in results)
    scenario.figure(
        renegotiation_attempts=len(results),
        served_before=served_first,
        refused_with_alert=sum(r.refused_alert for r in results),
        renegotiated=len(renegotiated),
        slowest_s=round(max(r.seconds for r in results), 2),
    )
    scenario.note(
        f"{RENEGOTIATIONS} `openssl s_client -tls1_2` connections ({RENEGOTIATION_THREADS} at "
        "once) each get an answer, ask to renegotiate (`R`), then send another request."
    )
    scenario.check(served_first == len(results), f"{served_first} of {len(results)} served")
    scenario.check(
        not renegotiated, f"{len(renegotiated)} renegotiations accepted: {renegotiated[:1]}"
    )
    scenario.check(
        all(r.refused_alert or r.answers_after == 0 for r in results),
        "a renegotiation neither refused nor ended",
    )
    # The requests s_client sent before (and, on a connection that stayed, after) are real.
    watch.check(reached_backend_ok=sum(r.answers_before + r.answers_after for r in results))
    scenario.finish()


def _garbage_kinds(hello: bytes) -> dict[str, list[bytes]]:
    rng = random.Random(GARBAGE_SEED)
    noise = bytes(rng.getrandbits(8) for _ in range(4096))
    bad_hello = bytes([HANDSHAKE_CLIENT_HELLO]) + (1000).to_bytes(3, "big") + noise[:1000]
    return {
        "random bytes": [noise],
        "garbage in a handshake record": [record(bad_hello)],
        "application data first": [record(noise[: MAX_RECORD // 4], content_type=0x17)],
        "two ClientHellos": [hello + hello],
        "ClientHello with its last byte changed": [hello[:-1] + bytes([hello[-1] ^ 0xFF])],
    }


def test_handshake_garbage(setup: Setup, scenario: Scenario) -> None:
    hello = client_hello(setup.pki.client_context())
    kinds = _garbage_kinds(hello)

    async def all_kinds() -> list[list[Ending]]:
        return list(
            await asyncio.gather(
                *(
                    slow_swarm(setup.tls_port, GARBAGE_CLIENTS, pieces, 0.0, GIVE_UP)
                    for pieces in kinds.values()
                )
            )
        )

    with Watch(setup, scenario) as watch:
        by_kind: list[list[Ending]] = [[] for _ in kinds]
        started = time.monotonic()
        for _ in range(ABUSE_ROUNDS):
            for endings, more in zip(by_kind, asyncio.run(all_kinds()), strict=True):
                endings += more
            if time.monotonic() - started >= ABUSE_SECONDS:
                break
        # Clients that go away mid-handshake: a ClientHello, then an abortive close (RST).
        for _ in range(GARBAGE_CLIENTS):
            with Client(setup.tls_port) as gone:
                # Linger on, zero seconds: close() sends a reset instead of a FIN.
                gone.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                gone.send(hello)
    scenario.note(
        f"{GARBAGE_CLIENTS} clients of each kind at once send it to the HTTPS listener and "
        f"wait, round after round for {ABUSE_SECONDS:g}s: "
        + ", ".join(kinds)
        + f"; then {GARBAGE_CLIENTS} send a ClientHello and reset the connection."
    )
    limit = CLIENT_TIMEOUT + SLACK
    for name, endings in zip(kinds, by_kind, strict=True):
        times = _endings_figures(scenario, endings, f"{name}: ")
        held = [e for e in endings if e.how == "held"]
        scenario.check(not held, f"{name}: {len(held)} connections still open")
        scenario.check(bool(times) and times[-1] <= limit, f"{name}: closed within {limit:g}s")
    watch.check()
    scenario.finish()
