"""When to (re)issue a certificate: at about two thirds of its lifetime, as Let's Encrypt
advises for its 90-day certificates (30 days before the end), and after a failure along
a table of growing delays, with jitter so that many proxies do not retry in step."""

from __future__ import annotations

from dataclasses import dataclass

# Renew once this fraction of the lifetime (notBefore to notAfter) has passed.
RENEW_FRACTION = 2 / 3
# Seconds to wait after the 1st, 2nd, ... failure in a row; the last repeats. From a
# minute (a CA restart, a listener not up yet) to six hours (a refused name waits for the
# operator), well within the third of a lifetime left for renewal.
BACKOFF_DELAYS: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0, 3 * 3600.0, 6 * 3600.0)
# Each delay is moved by up to this fraction, up or down.
BACKOFF_JITTER = 0.2
# A server's Retry-After is obeyed up to this (a day): beyond it a typo in a server
# would stop renewals for too long.
MAX_RETRY_AFTER = 86400.0


@dataclass(frozen=True, slots=True)
class Lifetime:
    """A certificate's validity, in epoch seconds, and the names it holds."""

    not_before: float
    not_after: float
    names: frozenset[str]


def renew_at(lifetime: Lifetime) -> float:
    span = max(0.0, lifetime.not_after - lifetime.not_before)
    return lifetime.not_before + span * RENEW_FRACTION


def next_issue(now: float, current: Lifetime | None, names: frozenset[str]) -> float:
    """When the next order is due, given the certificate on disk (None: none, or
    unreadable): at once without one, or when it lacks a configured name; else at its
    renewal time."""
    if current is None or not names <= current.names or current.not_after <= now:
        return now
    return renew_at(current)


def backoff(
    failures: int,
    rand: float,
    retry_after: float | None = None,
    delays: tuple[float, ...] = BACKOFF_DELAYS,
) -> float:
    """The delay after the ``failures``-th failure in a row (1 or more); ``rand`` in
    [0, 1) draws the jitter; a server's Retry-After, when longer, wins."""
    base = delays[min(max(failures, 1), len(delays)) - 1]
    delay = base * (1.0 + BACKOFF_JITTER * (2.0 * rand - 1.0))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay
