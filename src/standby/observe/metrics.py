"""OpenMetrics text from a snapshot of the proxy (pure).

The shell (or ``control.api.metrics_snapshot`` from a ``RuntimeView``) fills a
``MetricsSnapshot``; ``render_openmetrics`` turns it into the text exposition format
(OpenMetrics 1.0: ``# TYPE``/``# HELP``/``# UNIT`` lines, samples, ``# EOF``).

Pound's families keep Pound's sample names and labels (``listener``, ``service``, ``backend``
are indexes as in the control API, the Control socket counted as a listener where it appears).
Pound declares ``pound_*_enabled``/``pound_backend_state`` as statesets and ``pound_uptime``
as a counter, but its sample lines would be invalid OpenMetrics under those types (a stateset
sample needs a label named after the family, a counter sample ends in ``_total``); we declare
them as gauges, which keeps the exact sample lines Pound users query and stays valid.
``pound_backend_request_time_*`` are not produced (we keep a histogram instead).

standby's own families (``standby_*``): requests by backend and status, failovers, resends,
health transitions, in-flight requests, draining, and a response latency histogram; and
``standby_workers_unanswered``: workers that did not answer for this reading (then the
in-flight samples, unknown, are left out rather than written as zero).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

# Called per response: a Final module attribute is a C static once compiled (a plain
# imported name is a lookup in the module's dict at each use).
_bisect_left: Final = bisect_left

# Upper bounds (seconds) of the latency buckets: from a cached page on loopback (a few ms)
# to a backend close to Pound's default TimeOut (15 s); +Inf catches the rest.
LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    15.0,
)

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class LatencyHistogram:
    """Counts of observed durations per bucket (non-cumulative inside, cumulative when read).

    ``observe`` is O(1): a bisection over the fixed, small ``LATENCY_BUCKETS`` tuple (at most
    four comparisons), one list increment and one addition; no allocation. It runs once per
    request, so the number of observations is summed when read, not counted here.
    """

    __slots__ = ("_counts", "total")

    def __init__(self) -> None:
        self._counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0  # sum of observed seconds

    @property
    def count(self) -> int:
        """Observations so far."""
        return sum(self._counts)

    @classmethod
    def from_counts(cls, counts: Sequence[int], total: float) -> LatencyHistogram | None:
        """A histogram from per-bucket counts (``counts()`` of another process's); None
        when the bucket layout differs (it would be mislabelled)."""
        out = cls()
        if len(counts) != len(out._counts):
            return None
        out._counts = list(counts)
        out.total = total
        return out

    def counts(self) -> tuple[int, ...]:
        """Per-bucket counts, not cumulative (the last one is +Inf)."""
        return tuple(self._counts)

    def observe(self, seconds: float) -> None:
        """Record one duration; negative ones (a clock step) count as zero."""
        if seconds < 0.0:
            seconds = 0.0
        self._counts[_bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= bound) for every bucket, ending with (+Inf, count)."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*LATENCY_BUCKETS, math.inf), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s observations (workers' histograms summed by the supervisor)."""
        for i, n in enumerate(other._counts):
            self._counts[i] += n
        self.total += other.total


@dataclass(frozen=True, slots=True)
class ListenerSample:
    index: int  # Pound's numbering: the Control socket counts
    name: str  # "" when unnamed (as Pound prints it)
    address: str  # "IP:PORT", "[IPv6]:PORT", or a socket path
    protocol: str  # "http"
    enabled: bool


@dataclass(frozen=True, slots=True)
class ServiceSample:
    listener: int | None  # None for a global service (the label is then absent)
    index: int
    name: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class BackendSample:
    listener: int | None
    service: int
    index: int
    alive: bool
    enabled: bool
    draining: bool
    emergency: bool
    in_flight: int | None  # None: unknown (a worker did not answer); no sample then
    requests: int
    statuses: Mapping[int, int] = field(default_factory=dict)
    failovers: int = 0
    resends: int = 0
    transitions: int = 0
    latency: LatencyHistogram | None = None


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    uptime: float  # seconds since start
    workers: int
    # Workers that did not answer for this reading: their requests in flight are unknown
    # (those samples are left out), their counters as they last reported them.
    unanswered: int = 0
    listeners: Sequence[ListenerSample] = ()
    services: Sequence[ServiceSample] = ()
    backends: Sequence[BackendSample] = ()


def render_openmetrics(snap: MetricsSnapshot) -> str:
    """The whole exposition, ending with ``# EOF`` and a newline."""
    out: list[str] = []
    _family(out, "pound_uptime", "gauge", "Milliseconds since standby started.")
    out.append(f"pound_uptime {_num(round(snap.uptime * 1000))}")
    _family(out, "pound_workers", "gauge", "Worker processes.")
    out.append(f'pound_workers{{type="count"}} {snap.workers}')
    _family(
        out,
        "standby_workers_unanswered",
        "gauge",
        "Workers that did not answer for this reading (requests in flight unknown).",
    )
    out.append(f"standby_workers_unanswered {snap.unanswered}")

    _family(out, "pound_listener_enabled", "gauge", "Whether a listener is enabled.")
    for lst in snap.listeners:
        out.append(f"pound_listener_enabled{_labels(listener=lst.index)} {int(lst.enabled)}")
    _family(out, "pound_listener", "info", "Description of a listener.")
    for lst in snap.listeners:
        labels = _labels(
            listener=lst.index, name=lst.name, address=lst.address, protocol=lst.protocol
        )
        out.append(f"pound_listener_info{labels} 1")

    _family(out, "pound_service", "info", "Description of a service.")
    for svc in snap.services:
        labels = _labels(listener=svc.listener, service=svc.index, name=svc.name)
        out.append(f"pound_service_info{labels} 1")
    _family(out, "pound_service_enabled", "gauge", "Whether a service is enabled.")
    for svc in snap.services:
        labels = _labels(listener=svc.listener, service=svc.index)
        out.append(f"pound_service_enabled{labels} {int(svc.enabled)}")

    _family(out, "pound_backends", "gauge", "Backends per service by state.")
    for svc in snap.services:
        mine = [b for b in snap.backends if (b.listener, b.service) == (svc.listener, svc.index)]
        counts = {
            "total": len(mine),
            "alive": sum(b.alive for b in mine),
            "enabled": sum(b.enabled for b in mine),
            "active": sum(b.alive and b.enabled and not b.draining for b in mine),
        }
        for state, n in counts.items():
            labels = _labels(listener=svc.listener, service=svc.index, state=state)
            out.append(f"pound_backends{labels} {n}")

    _family(out, "pound_backend_state", "gauge", "Whether a backend is alive, enabled.")
    for b in snap.backends:
        for state, value in (("alive", b.alive), ("enabled", b.enabled)):
            out.append(f"pound_backend_state{_blabels(b, state=state)} {int(value)}")
    _family(out, "pound_backend_requests", "gauge", "Requests sent to a backend.")
    for b in snap.backends:
        out.append(f"pound_backend_requests{_blabels(b)} {b.requests}")

    _family(out, "standby_backend_draining", "gauge", "Whether a backend is draining.")
    for b in snap.backends:
        out.append(f"standby_backend_draining{_blabels(b)} {int(b.draining)}")
    _family(out, "standby_backend_emergency", "gauge", "Whether a backend is an Emergency one.")
    for b in snap.backends:
        out.append(f"standby_backend_emergency{_blabels(b)} {int(b.emergency)}")
    _family(out, "standby_backend_in_flight", "gauge", "Requests in flight to a backend.")
    for b in snap.backends:
        if b.in_flight is not None:  # unknown is no sample, never a zero
            out.append(f"standby_backend_in_flight{_blabels(b)} {b.in_flight}")
    _family(out, "standby_backend_responses", "counter", "Backend responses by status.")
    for b in snap.backends:
        for status in sorted(b.statuses):
            labels = _blabels(b, status=status)
            out.append(f"standby_backend_responses_total{labels} {b.statuses[status]}")
    _counter(out, snap.backends, "failovers", "Requests moved to another backend after a failure.")
    _counter(out, snap.backends, "resends", "Requests a backend received as a resend.")
    _counter(out, snap.backends, "health_transitions", "Alive/dead transitions of a backend.")

    _family(
        out,
        "standby_backend_latency_seconds",
        "histogram",
        "Time from sending a request to receiving the response head.",
        unit="seconds",
    )
    for b in snap.backends:
        if b.latency is None:
            continue
        for bound, n in b.latency.cumulative():
            labels = _blabels(b, le=_bound(bound))
            out.append(f"standby_backend_latency_seconds_bucket{labels} {n}")
        out.append(f"standby_backend_latency_seconds_count{_blabels(b)} {b.latency.count}")
        out.append(f"standby_backend_latency_seconds_sum{_blabels(b)} {_num(b.latency.total)}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def _counter(out: list[str], backends: Iterable[BackendSample], what: str, help_: str) -> None:
    name = f"standby_backend_{what}"
    _family(out, name, "counter", help_)
    attr = "transitions" if what == "health_transitions" else what
    for b in backends:
        out.append(f"{name}_total{_blabels(b)} {getattr(b, attr)}")


def _family(out: list[str], name: str, kind: str, help_: str, unit: str | None = None) -> None:
    out.append(f"# TYPE {name} {kind}")
    if unit is not None:
        out.append(f"# UNIT {name} {unit}")
    out.append(f"# HELP {name} {_escape_help(help_)}")


def _blabels(b: BackendSample, **extra: object) -> str:
    return _labels(listener=b.listener, service=b.service, backend=b.index, **extra)


def _labels(**labels: object) -> str:
    """``{a="1",b="x"}`` in argument order; None values are left out."""
    parts = [f'{k}="{_escape(str(v))}"' for k, v in labels.items() if v is not None]
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _bound(bound: float) -> str:
    """A bucket's ``le``: OpenMetrics' canonical float form ("1.0", "0.25", "+Inf")."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _num(value: float) -> str:
    """Integers without a decimal point, other floats in their shortest exact form."""
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value))
    return repr(float(value))
