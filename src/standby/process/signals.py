"""What each signal means, as a table over the life-cycle state (pure: no I/O here).

Signal handlers only record the signal number; the main coroutine looks the pair
(state, signal) up in ``TRANSITIONS`` and acts.
"""

from __future__ import annotations

import enum
import signal


class Phase(enum.Enum):
    RUNNING = "running"  # serving
    STOPPING = "stopping"  # stopped accepting, in-flight requests finishing within Grace


class Action(enum.Enum):
    GRACEFUL_STOP = "graceful-stop"  # stop accepting, let requests finish within Grace
    ABORT = "abort"  # close everything now and exit
    RELOAD = "reload"  # re-read the configuration file; a bad one leaves the old one running
    NOTHING = "nothing"  # already doing what was asked
    REOPEN_LOGS = "reopen-logs"  # reopen the log file (logrotate moved it away)


# The signals the runner catches; anything else keeps its default disposition.
HANDLED_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    # Reopens the log file; caught even without one, whose default action would kill us.
    signal.SIGUSR1,
)

TRANSITIONS: dict[tuple[Phase, signal.Signals], Action] = {
    (Phase.RUNNING, signal.SIGTERM): Action.GRACEFUL_STOP,
    (Phase.RUNNING, signal.SIGINT): Action.GRACEFUL_STOP,
    (Phase.RUNNING, signal.SIGQUIT): Action.ABORT,
    (Phase.RUNNING, signal.SIGHUP): Action.RELOAD,
    # A second stop request while draining means "stop waiting": the operator insists. A
    # reload while stopping is pointless: the new configuration would serve nobody.
    (Phase.STOPPING, signal.SIGTERM): Action.ABORT,
    (Phase.STOPPING, signal.SIGINT): Action.ABORT,
    (Phase.STOPPING, signal.SIGQUIT): Action.ABORT,
    (Phase.STOPPING, signal.SIGHUP): Action.NOTHING,
    # A draining process still logs its last requests: reopen whenever asked.
    (Phase.RUNNING, signal.SIGUSR1): Action.REOPEN_LOGS,
    (Phase.STOPPING, signal.SIGUSR1): Action.REOPEN_LOGS,
}


# A supervised worker: the operator talks to the supervisor, which forwards SIGTERM (or
# SIGQUIT when the operator insists). The same SIGTERM may also reach a worker directly (a
# service manager signalling the whole group, Ctrl-C on the terminal's process group): a
# repeated stop request must not cut the drain short, and SIGHUP is the supervisor's (it
# reloads by starting a new generation of workers; a worker never reloads in place).
WORKER_TRANSITIONS: dict[tuple[Phase, signal.Signals], Action] = {
    (Phase.RUNNING, signal.SIGTERM): Action.GRACEFUL_STOP,
    (Phase.RUNNING, signal.SIGINT): Action.GRACEFUL_STOP,
    (Phase.RUNNING, signal.SIGQUIT): Action.ABORT,
    (Phase.RUNNING, signal.SIGHUP): Action.NOTHING,
    (Phase.STOPPING, signal.SIGTERM): Action.NOTHING,
    (Phase.STOPPING, signal.SIGINT): Action.NOTHING,
    (Phase.STOPPING, signal.SIGQUIT): Action.ABORT,
    (Phase.STOPPING, signal.SIGHUP): Action.NOTHING,
    # The supervisor relays SIGUSR1 (a service manager may also send it to every process
    # of the group: reopening twice is harmless).
    (Phase.RUNNING, signal.SIGUSR1): Action.REOPEN_LOGS,
    (Phase.STOPPING, signal.SIGUSR1): Action.REOPEN_LOGS,
}

SignalTable = dict[tuple[Phase, signal.Signals], Action]


def decide(phase: Phase, signum: int, table: SignalTable = TRANSITIONS) -> Action:
    """The action for ``signum`` received in ``phase`` (``table``: whose rules)."""
    try:
        sig = signal.Signals(signum)
    except ValueError:
        return Action.NOTHING
    return table.get((phase, sig), Action.NOTHING)
