"""The signal table and the main coroutine acting on recorded signals (in process)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

import pytest

from standby.process.daemon import StartupNotifier
from standby.process.runner import EXIT_FAILURE, Lifecycle, SignalInbox
from standby.process.signals import (
    HANDLED_SIGNALS,
    TRANSITIONS,
    WORKER_TRANSITIONS,
    Action,
    Phase,
    decide,
)

DEADLINE = 30.0  # generous upper bound for an in-process coroutine to finish


def test_every_handled_signal_has_a_decision_in_every_phase() -> None:
    assert {(p, s) for p in Phase for s in HANDLED_SIGNALS} == set(TRANSITIONS)


@pytest.mark.parametrize(
    ("phase", "sig", "action"),
    [
        (Phase.RUNNING, signal.SIGTERM, Action.GRACEFUL_STOP),
        (Phase.RUNNING, signal.SIGINT, Action.GRACEFUL_STOP),
        (Phase.RUNNING, signal.SIGQUIT, Action.ABORT),
        (Phase.RUNNING, signal.SIGHUP, Action.RELOAD),
        (Phase.STOPPING, signal.SIGTERM, Action.ABORT),
        (Phase.STOPPING, signal.SIGHUP, Action.NOTHING),
        (Phase.RUNNING, signal.SIGUSR2, Action.NOTHING),  # not handled
        (Phase.RUNNING, signal.SIGUSR1, Action.REOPEN_LOGS),
        (Phase.STOPPING, signal.SIGUSR1, Action.REOPEN_LOGS),
    ],
)
def test_decide(phase: Phase, sig: signal.Signals, action: Action) -> None:
    assert decide(phase, int(sig)) is action


def test_a_worker_never_reloads_by_itself() -> None:
    assert {(p, s) for p in Phase for s in HANDLED_SIGNALS} == set(WORKER_TRANSITIONS)
    assert decide(Phase.RUNNING, signal.SIGHUP, WORKER_TRANSITIONS) is Action.NOTHING


def test_sigusr1_reopens_the_log_file_in_every_process_and_phase() -> None:
    for table in (TRANSITIONS, WORKER_TRANSITIONS):
        for phase in Phase:
            assert decide(phase, signal.SIGUSR1, table) is Action.REOPEN_LOGS


def test_decide_unknown_number() -> None:
    assert decide(Phase.RUNNING, 10_000) is Action.NOTHING


class RecordingProxy:
    """Records what the life cycle asks of it; ``stop`` waits until released."""

    def __init__(self, fail_start: bool = False, reload_ok: bool = True) -> None:
        self.calls: list[str] = []
        self.fail_start = fail_start
        self.reload_ok = reload_ok
        self.release = asyncio.Event()
        self.stopping = asyncio.Event()

    async def start(self, sockets: list[socket.socket]) -> None:
        self.calls.append("start")
        if self.fail_start:
            raise OSError("no luck")

    async def reload_from_source(self) -> tuple[bool, str]:
        self.calls.append("reload")
        return self.reload_ok, "reloaded" if self.reload_ok else "f.cfg:1.1: bad"

    async def stop(self, grace: float, *, linger: float = 0.0) -> None:
        self.calls.append(f"stop {grace:g}")
        self.stopping.set()
        await self.release.wait()
        self.calls.append("stopped")

    def abort(self) -> None:
        self.calls.append("abort")


def _run(proxy: RecordingProxy, script: list[int], release: bool = True) -> int:
    async def main() -> int:
        inbox = SignalInbox()
        task = asyncio.ensure_future(Lifecycle(proxy, [], 7.0, inbox, StartupNotifier(None)).run())
        for signum in script:
            inbox.record(signum)
        if release:
            await proxy.stopping.wait()
            proxy.release.set()
        return await asyncio.wait_for(task, DEADLINE)

    return asyncio.run(main())


@pytest.mark.parametrize("reload_ok", [True, False])
def test_sighup_reloads_then_sigterm_stops_gracefully(
    caplog: pytest.LogCaptureFixture, reload_ok: bool
) -> None:
    caplog.set_level(logging.INFO, logger="standby.process")
    proxy = RecordingProxy(reload_ok=reload_ok)
    assert _run(proxy, [signal.SIGHUP, signal.SIGHUP, signal.SIGTERM]) == 0
    # Whatever the outcome, the process keeps running until told to stop.
    assert proxy.calls == ["start", "reload", "reload", "stop 7", "stopped"]
    assert "SIGHUP: reloading the configuration" in caplog.text


def test_sigint_stops_gracefully() -> None:
    proxy = RecordingProxy()
    assert _run(proxy, [signal.SIGINT]) == 0
    assert proxy.calls == ["start", "stop 7", "stopped"]


def test_sigquit_aborts() -> None:
    proxy = RecordingProxy()
    assert _run(proxy, [signal.SIGQUIT], release=False) == 0
    assert proxy.calls == ["start", "abort"]


def test_second_sigterm_while_draining_aborts() -> None:
    proxy = RecordingProxy()

    async def main() -> int:
        inbox = SignalInbox()
        task = asyncio.ensure_future(Lifecycle(proxy, [], 7.0, inbox, StartupNotifier(None)).run())
        inbox.record(signal.SIGTERM)
        await proxy.stopping.wait()
        inbox.record(signal.SIGTERM)
        return await asyncio.wait_for(task, DEADLINE)

    assert asyncio.run(main()) == 0
    assert proxy.calls == ["start", "stop 7", "abort"]


def test_failed_start_is_reported() -> None:
    proxy = RecordingProxy(fail_start=True)
    assert _run(proxy, [], release=False) == EXIT_FAILURE
    assert proxy.calls == ["start", "abort"]
