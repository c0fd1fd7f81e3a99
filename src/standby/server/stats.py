"""Counters kept by the shell per backend: what the control API and metrics report, and
what `drain --wait` waits on. Plain attributes: one increment per event, no locks (one
event loop per process)."""

from __future__ import annotations

from collections import Counter

from standby.observe.metrics import LatencyHistogram


class BackendCounters:
    __slots__ = (
        "failovers",
        "in_flight",
        "latency",
        "requests",
        "resends",
        "statuses",
        "transitions",
    )

    def __init__(self) -> None:
        self.in_flight = 0  # requests on a connection to this backend right now
        self.requests = 0  # requests sent to this backend
        self.statuses: Counter[int] = Counter()  # responses by status
        self.failovers = 0  # requests that left this backend for another after a failure
        self.resends = 0  # requests this backend received as a resend
        self.transitions = 0  # alive <-> dead changes
        self.latency = LatencyHistogram()  # request sent -> response head, seconds
