"""Soak: standby as its own process under mixed traffic for a long time (30 minutes by
default), its RSS and file descriptors sampled all along; their least-squares slopes must
be flat. Skipped unless ``STANDBY_SOAK=1``; ``STANDBY_SOAK_SECONDS`` sets the length.

Traffic: normal requests (small, chunked and large responses, uploads) to a healthy
service; malformed requests on fresh connections; requests to a second service whose
backend changes its misbehaviour every few seconds (resets, hangs, 503s) behind a relay
that cuts, corrupts and delays its responses, with an Emergency backend behind it.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.robustness.report import Scenario
from tests.robustness.tools.relay import Cut, Fault, FaultRelay
from tests.robustness.tools.resources import ProxyProcess, settles, slope
from tests.support.backend import Backend
from tests.support.harness import DEADLINE, Client

SOAK = os.environ.get("STANDBY_SOAK", "") not in ("", "0")
SECONDS = float(os.environ.get("STANDBY_SOAK_SECONDS", "1800"))
SAMPLE_INTERVAL = 5.0  # seconds between two RSS/fd samples
CHAOS_INTERVAL = 5.0  # seconds between two changes of the faulty backend's behaviour
# The first part of the run is warm-up (allocator arenas, pools, caches filling): the
# slopes are fitted on the samples after it.
WARMUP_SHARE = 0.2
# Flat: the growth the fitted slope predicts over the steady part of the run stays within
# sampling noise (allocator steps, connections open at the sampling instant) plus a small
# rate. A leak of a few hundred bytes, or one descriptor in thousands of requests, at this
# traffic's rate (hundreds of requests per second) is far above it.
RSS_NOISE_KIB = 4096
RSS_RATE_KIB_MIN = 128.0
FD_NOISE = 10
FD_RATE_MIN = 0.5
# The healthy service must stay this successful whatever its neighbour does.
MIN_GOOD_SUCCESS = 0.999
SEED = 5  # the chaos is random, and reproducible

pytestmark = [
    pytest.mark.skipif(not SOAK, reason="soak: set STANDBY_SOAK=1 (STANDBY_SOAK_SECONDS=...)"),
    pytest.mark.timeout(SECONDS + 300),
]

CONFIG = """
Client 5
TimeOut 2
ConnTO 1
Alive 1
ListenHTTP
  Address 127.0.0.1
  Port {port}
  MaxRequest 1048576
  Service
    Host "good.example"
    BackEnd
      Address 127.0.0.1
      Port {good}
    End
  End
  Service
    Host "faulty.example"
    BackEnd
      Address 127.0.0.1
      Port {relay}
    End
    Emergency
      Address 127.0.0.1
      Port {standby}
    End
  End
End
"""

GOOD_REQUESTS: list[tuple[str, str, bytes]] = [
    ("GET", "/", b""),
    ("GET", "/size/20000", b""),
    ("GET", "/chunked/300000", b""),
    ("GET", "/download/2000000", b""),
    ("HEAD", "/", b""),
    ("POST", "/upload", b"p" * 200_000),
]

MALFORMED: list[bytes] = [
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
    b"GET /" + b"u" * 70_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"h" * 70_000 + b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: good.example\r\nContent-Length: 9999999\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: good.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),
]

FAULTS: list[Fault] = [
    Fault(),
    Fault(cut_after=300, cut=Cut.RST),
    Fault(cut_after=5000, cut=Cut.FIN),
    Fault(corrupt_at=5),
    Fault(latency=0.05),
    Fault(blackhole=True),
]
MODES = ["ok", "ok", "reset", "hang", "503"]


class Traffic:
    """Worker threads, each repeating one kind of request until told to stop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def count(self, key: str) -> None:
        with self.lock:
            self.outcomes[key] += 1

    def spawn(self, fn: Callable[[random.Random], None], n: int, pace: float) -> None:
        for i in range(n):

            def run(seed: int = i) -> None:
                rng = random.Random(SEED * 1000 + len(self.threads) + seed)
                while not self.stop.is_set():
                    fn(rng)
                    self.stop.wait(pace)

            t = threading.Thread(target=run, daemon=True)
            self.threads.append(t)

    def good(self, rng: random.Random) -> None:
        method, target, body = rng.choice(GOOD_REQUESTS)
        try:
            with Client(self.port, timeout=30) as c:
                for _ in range(rng.randint(1, 5)):  # keep-alive: a few on one connection
                    r = c.request(target, "good.example", method=method, body=body)
                    self.count("good ok" if r.status == 200 else f"good status {r.status}")
        except (OSError, ConnectionError) as exc:
            self.count(f"good error {type(exc).__name__}")

    def faulty(self, rng: random.Random) -> None:
        try:
            with Client(self.port, timeout=30) as c:
                r = c.request(rng.choice(["/", "/size/50000"]), "faulty.example")
                who = (r.header(b"x-backend") or b"proxy").decode("latin-1")
                self.count(f"faulty {r.status} from {who}")
        except (OSError, ConnectionError) as exc:
            self.count(f"faulty error {type(exc).__name__}")

    def malformed(self, rng: random.Random) -> None:
        try:
            with Client(self.port, timeout=30) as c:
                c.sock.sendall(rng.choice(MALFORMED))
                c.sock.shutdown(socket.SHUT_WR)
                answer = c.read_all()
            status = answer[9:12].decode("latin-1") if answer.startswith(b"HTTP/") else "none"
            self.count(f"malformed {status}")
        except (OSError, ConnectionError) as exc:
            self.count(f"malformed error {type(exc).__name__}")

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def test_soak_rss_and_fds_flat(tmp_path: Path, scenario: Scenario) -> None:
    scenario.command = f"STANDBY_SOAK=1 STANDBY_SOAK_SECONDS={SECONDS:g} {scenario.command}"
    rng = random.Random(SEED)
    with (
        Backend("good") as good,
        Backend("flaky") as flaky,
        Backend("standby") as standby,
        FaultRelay(flaky.address) as relay,
    ):
        text = CONFIG.format(port="{port}", good=good.port, relay=relay.port, standby=standby.port)
        with ProxyProcess(text, tmp_path) as p:
            fds0 = p.fds()
            traffic = Traffic(p.port)
            traffic.spawn(traffic.good, 4, 0.01)
            traffic.spawn(traffic.faulty, 2, 0.02)
            traffic.spawn(traffic.malformed, 1, 0.05)
            samples: list[tuple[float, int, int]] = []
            start = time.monotonic()
            next_chaos = start
            with traffic:
                while (now := time.monotonic()) - start < SECONDS and p.alive():
                    if now >= next_chaos:
                        relay.down = rng.choice(FAULTS)
                        flaky.mode = rng.choice(MODES)
                        next_chaos = now + CHAOS_INTERVAL
                    samples.append((now - start, p.rss_kib(), p.fds()))
                    # The sampling period itself (the soak's clock), not a synchronisation.
                    time.sleep(SAMPLE_INTERVAL)
            relay.down = Fault()
            flaky.mode = "ok"
            # Quiet again: every descriptor opened for the traffic must go (pooled upstream
            # connections expire after 4 s of idleness).
            fds_back, fds_end = settles(p.fds, fds0, DEADLINE)
            alive = p.alive()
            unhandled = p.unhandled()
            peak = p.peak_kib()
            status = p.stop()
    steady = [s for s in samples if s[0] >= WARMUP_SHARE * SECONDS]
    rss_slope = 60 * slope([(t, rss) for t, rss, _ in steady])
    fd_slope = 60 * slope([(t, fds) for t, _, fds in steady])
    outcomes = dict(traffic.outcomes)
    good_total = sum(v for k, v in outcomes.items() if k.startswith("good"))
    good_ok = outcomes.get("good ok", 0)
    malformed_200 = outcomes.get("malformed 200", 0)
    scenario.figure(
        seconds=round(SECONDS),
        samples=len(samples),
        requests=sum(outcomes.values()),
        good_success_pct=round(100 * good_ok / good_total, 3) if good_total else 0,
        rss_first_mib=round(samples[0][1] / 1024, 1) if samples else 0,
        rss_last_mib=round(samples[-1][1] / 1024, 1) if samples else 0,
        rss_peak_mib=round(peak / 1024, 1),
        rss_slope_kib_per_min=round(rss_slope, 1),
        fd_slope_per_min=round(fd_slope, 2),
        fds_start=fds0,
        fds_end=fds_end,
    )
    scenario.note(
        "Outcomes: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
        + f". Slopes fitted after the first {WARMUP_SHARE:.0%} of the run."
    )
    minutes = (steady[-1][0] - steady[0][0]) / 60 if len(steady) > 1 else 0.0
    scenario.check(len(steady) >= 3, "enough samples after the warm-up")
    scenario.check(
        rss_slope * minutes <= RSS_NOISE_KIB + RSS_RATE_KIB_MIN * minutes,
        f"RSS slope {rss_slope:.1f} KiB/min over {minutes:.1f} min",
    )
    scenario.check(
        fd_slope * minutes <= FD_NOISE + FD_RATE_MIN * minutes,
        f"fd slope {fd_slope:.2f}/min over {minutes:.1f} min",
    )
    scenario.check(fds_back, f"fds back to {fds0} when quiet (still {fds_end})")
    scenario.check(
        good_total > 0 and good_ok / good_total >= MIN_GOOD_SUCCESS,
        f"healthy service {good_ok}/{good_total}",
    )
    scenario.check(malformed_200 == 0, f"{malformed_200} malformed requests answered 200")
    scenario.check(alive and status == 0, f"proxy alive, exit status {status}")
    scenario.check(not unhandled, f"unhandled exceptions: {unhandled[:3]}")
    scenario.finish()
