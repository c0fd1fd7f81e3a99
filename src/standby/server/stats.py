"""Counters kept by the shell per backend: what the control API and metrics report, and
what `drain --wait` waits on. Plain attributes: one increment per event, no locks (one
event loop per process)."""

from __future__ import annotations

from standby.observe.metrics import LatencyHistogram

# Response statuses are three digits (both head parsers check), so a list indexed by status
# counts them: one list increment per response, a third of a Counter's cost.
STATUS_SLOTS = 1000


class BackendCounters:
    __slots__ = (
        "by_status",
        "failovers",
        "in_flight",
        "latency",
        "requests",
        "resends",
        "transitions",
    )

    def __init__(self) -> None:
        self.in_flight = 0  # requests on a connection to this backend right now
        self.requests = 0  # requests sent to this backend
        self.by_status = [0] * STATUS_SLOTS  # responses by status: by_status[200]
        self.failovers = 0  # requests that left this backend for another after a failure
        self.resends = 0  # requests this backend received as a resend
        self.transitions = 0  # alive <-> dead changes
        self.latency = LatencyHistogram()  # request sent -> response head, seconds

    def statuses(self) -> dict[int, int]:
        """Responses by status, for the statuses seen."""
        return {status: n for status, n in enumerate(self.by_status) if n}
