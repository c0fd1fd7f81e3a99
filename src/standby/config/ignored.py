"""Pound keywords that configure machinery standby does not have: accepted, so that a
Pound file loads, and answered with a warning saying what standby does instead.

Each entry is ``name -> (what Pound does with it, what standby does instead)``; the
schema builds the keyword's help from it and the parser logs the warning (at start,
at reload and under ``-c``) once per use, at its ``FILE:LINE.COL``.
"""

from __future__ import annotations

import logging

from standby.model import Location

log = logging.getLogger(__name__)

_WORKERS = "standby runs one event loop per worker process; see Workers"

IGNORED: dict[str, tuple[str, str]] = {
    "Threads": ("the number of worker threads", _WORKERS),
    "WorkerMinCount": ("the fewest worker threads kept", _WORKERS),
    "WorkerMaxCount": ("the most worker threads started", _WORKERS),
    "WorkerIdleTimeout": ("how long an idle worker thread lives", _WORKERS),
    "WorkerStackSize": ("the stack size of worker threads", _WORKERS),
    "ConnectionQueueSize": (
        "how many accepted connections wait for a free thread",
        "each worker's event loop takes every connection it accepts at once, so "
        "none wait in a queue; see Workers",
    ),
    "Supervisor": (
        "whether a supervisor process restarts pound",
        "a supervisor runs whenever there is more than one worker; see Workers and WorkerTimeout",
    ),
    "SSLEngine": (
        "an OpenSSL engine for TLS",
        "standby uses Python's ssl module, which loads no engine (Pound 4 ignores it too)",
    ),
    "ECDHCurve": (
        "the global ECDH curve (deprecated and ignored by Pound 4)",
        "set ECDHcurve inside each ListenHTTPS",
    ),
    "ReserveFD": (
        "file descriptors kept free for the threads' own use",
        "standby refuses a connection it cannot serve and keeps serving the others",
    ),
    "WatcherTTL": (
        "how often watched files are polled when inotify is absent",
        "certificates are polled every few seconds, htpasswd files and -filewatch lists "
        "before each request",
    ),
    "BackendStats": (
        "whether per-backend request statistics are kept",
        "they are always kept, in the control API and Metrics",
    ),
    "HAport": (
        "a second port probed to tell whether the backend is alive (Pound 2; removed in Pound 4)",
        "use a HealthCheck section",
    ),
    "DynScale": (
        "priorities scaled by response times (Pound 2; removed in Pound 4)",
        "priorities stay as written",
    ),
}


def warn(name: str, at: Location) -> None:
    """Log that ``name`` (a key of IGNORED) at ``at`` is accepted and ignored."""
    _, instead = IGNORED[name]
    log.warning("%s: warning: %s is ignored: %s", at, name, instead)
