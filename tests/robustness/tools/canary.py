"""A canary client: a steady, modest request rate on its own keep-alive connection while a
scenario runs, so the suite can say what an ordinary visitor saw meanwhile.

Requests are sent on a fixed schedule (``rate`` per second, not "as fast as answers come"),
so a stall shows as latency, not as fewer requests. A failed request (an error, a close, a
status other than the expected one) opens a new connection for the next one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.harness import Client

# The modest rate of an ordinary visitor population on a small site.
DEFAULT_RATE = 50.0
# One canary request gives up after this long (counted as a failure).
REQUEST_TIMEOUT = 10.0
# A canary runs at most this long, whatever the test does.
MAX_DURATION = 3600.0
# Baseline length: enough requests for a p99 at the default rate.
BASELINE_SECONDS = 3.0


@dataclass(frozen=True)
class CanaryStats:
    attempts: int
    successes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    failures: dict[str, int]

    @property
    def success_rate(self) -> float:
        return self.successes / self.attempts if self.attempts else 0.0

    def figures(self, prefix: str = "canary") -> dict[str, float | int]:
        return {
            f"{prefix} requests": self.attempts,
            f"{prefix} success %": round(100.0 * self.success_rate, 3),
            f"{prefix} p50 ms": round(self.p50_ms, 2),
            f"{prefix} p99 ms": round(self.p99_ms, 2),
        }


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


class Canary:
    """``with Canary(port) as c: ...``; then ``c.stats()``."""

    def __init__(
        self,
        port: int,
        rate: float = DEFAULT_RATE,
        target: str = "/",
        expect: int = 200,
        host: str = "www.example.com",
        connect: Callable[..., Client] = Client,
    ) -> None:
        self.port = port
        self.connect = connect  # opens its connection: plain by default, or a TLS client
        self.interval = 1.0 / rate
        self.target = target
        self.expect = expect
        self.host = host
        self._latencies: list[float] = []
        self._failures: dict[str, int] = {}
        self._attempts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canary", daemon=True)

    def _run(self) -> None:
        client: Client | None = None
        start = time.monotonic()
        n = 0
        while not self._stop.is_set() and time.monotonic() - start < MAX_DURATION:
            t0 = time.monotonic()
            failure = None
            try:
                if client is None:
                    client = self.connect(self.port, timeout=REQUEST_TIMEOUT)
                resp = client.request(self.target, self.host)
                if resp.status != self.expect:
                    failure = f"status {resp.status}"
                elif resp.header(b"connection") == b"close":
                    client.close()
                    client = None
            except (OSError, ConnectionError, ValueError) as exc:
                failure = type(exc).__name__
            elapsed = time.monotonic() - t0
            with self._lock:
                self._attempts += 1
                if failure is None:
                    self._latencies.append(elapsed)
                else:
                    self._failures[failure] = self._failures.get(failure, 0) + 1
            if failure is not None and client is not None:
                client.close()
                client = None
            n += 1
            # The schedule, not the answers, sets the pace: a late answer is not made up for
            # by a burst (skip the slots that passed).
            next_at = start + n * self.interval
            now = time.monotonic()
            if next_at < now:
                n = int((now - start) / self.interval) + 1
                next_at = start + n * self.interval
            self._stop.wait(next_at - now)
        if client is not None:
            client.close()

    def start(self) -> Canary:
        self._thread.start()
        return self

    def stop(self) -> CanaryStats:
        self._stop.set()
        self._thread.join(REQUEST_TIMEOUT * 2)
        return self.stats()

    def stats(self) -> CanaryStats:
        with self._lock:
            lat = sorted(self._latencies)
            return CanaryStats(
                attempts=self._attempts,
                successes=len(lat),
                p50_ms=1000 * percentile(lat, 0.50),
                p99_ms=1000 * percentile(lat, 0.99),
                max_ms=1000 * (lat[-1] if lat else 0.0),
                failures=dict(self._failures),
            )

    def __enter__(self) -> Canary:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def baseline(
    port: int, seconds: float = BASELINE_SECONDS, rate: float = DEFAULT_RATE, target: str = "/"
) -> CanaryStats:
    """The canary on a quiet proxy, to compare a scenario's figures with."""
    with Canary(port, rate, target) as canary:
        time.sleep(seconds)  # the measurement window itself, not a synchronisation
    return canary.stats()
