"""The prober: an asyncio task that checks backends when the board says they are due.

Shell code: it performs the I/O and reports each result to the ``HealthBoard``, which
decides (``check_passed``/``check_failed``). What a check is comes from
``HealthBoard.probe_check``: a configured HealthCheck (every Interval, live backends too),
``HEAD /`` for a backend down for an HTTP-level reason, else Pound's bare connect (inet or
UNIX socket) every ``Alive`` seconds, bounded by the backend's ``ConnTO``. An HTTP check is
one HTTP/1.1 request with ``Connection: close``, bounded as a whole by its TimeOut (and its
connect also by ``ConnTO``); the answer is judged by ``standby.health.check``. For an
HTTPS backend every one of them makes the TLS handshake a request would (the pool's
context, name and verification) within ``ConnTO``: a failed handshake fails it. Checks of
different backends run concurrently. While running, the prober also logs every transition
of the board (whoever reported it) once, on the ``standby.health`` logger: WARNING when a
backend goes dead, INFO when it comes back. Run one prober per board writer (the
supervisor when there are several workers).

All calls must come from the event loop's thread (the board is not locked).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import ssl
from typing import Any

from standby.clock import Clock
from standby.health.board import HealthBoard, Identity, Transition
from standby.health.check import (
    MAX_CHECK_BODY,
    MAX_CHECK_HEAD,
    check_request,
    head_end,
    verdict,
)
from standby.model import DEFAULT_BACKEND_TIMEOUT, BackendSpec, HealthCheckSpec
from standby.upstream import tls
from standby.upstream.pool import HANDSHAKE_TIMEOUT_SLACK as tls_slack

LOGGER_NAME = "standby.health"
PROBE_OK = "probe connected"
READ_SIZE = 4096  # bytes asked of the stream per read: a check answer is small


class Prober:
    """Probes dead backends until stopped. ``start()`` in a running loop, ``await stop()``."""

    def __init__(self, board: HealthBoard, clock: Clock, log: logging.Logger | None = None) -> None:
        self._board = board
        self._clock = clock
        self._log = log if log is not None else logging.getLogger(LOGGER_NAME)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[Identity, asyncio.Task[None]] = {}

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("prober already started")
        self._board.subscribe(self._on_transition)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="standby prober")

    async def stop(self) -> None:
        """Cancel the loop and every probe in flight, and wait until they are gone."""
        task, self._task = self._task, None
        if task is None:
            return
        self._board.unsubscribe(self._on_transition)
        tasks = [task, *self._inflight.values()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()

    def wake(self) -> None:
        """Re-examine the schedule now (e.g. after an operator re-enabled a backend)."""
        self._wake.set()

    def _on_transition(self, transition: Transition) -> None:
        if transition.alive:
            self._log.info("%s", transition.message())
        else:
            self._log.warning("%s", transition.message())
        self._wake.set()  # a newly dead backend changes the schedule

    async def _run(self) -> None:
        board = self._board
        while True:
            self._wake.clear()
            busy = self._inflight.keys()
            for spec in board.due_probes(exclude=busy):
                board.probe_started(spec)
                key = spec.identity
                task = asyncio.create_task(self._probe(spec), name=f"probe {spec.describe()}")
                self._inflight[key] = task
                task.add_done_callback(functools.partial(self._probe_done, key))
            # Sleep until the next probe is due; at most Alive, so nothing waits longer.
            delay = board.alive_interval
            next_at = board.next_probe_at(exclude=self._inflight.keys())
            if next_at is not None:
                delay = min(delay, max(0.0, next_at - self._clock.monotonic()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _probe_done(self, key: Identity, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        self._wake.set()

    async def _probe(self, spec: BackendSpec) -> None:
        check = self._board.probe_check(spec)
        if check is None:
            await self._tcp_probe(spec)
        else:
            await self._http_check(spec, check)

    async def _tcp_probe(self, spec: BackendSpec) -> None:
        timeout = spec.conn_timeout if spec.conn_timeout > 0 else DEFAULT_BACKEND_TIMEOUT
        try:
            async with asyncio.timeout(timeout):
                await _connect(spec)
        except TimeoutError:
            self._board.check_failed(spec, f"probe timed out after {timeout:g} s")
        except _TlsFailed as exc:
            self._board.check_failed(spec, f"probe failed: {exc}")
        except OSError as exc:
            self._board.check_failed(spec, f"probe failed: {_os_reason(exc)}")
        except asyncio.CancelledError:
            # Stopped mid-probe: leave the backend as it was, so a later prober probes it.
            self._board.probe_cancelled(spec)
            raise
        except Exception as exc:  # e.g. a host name the resolver rejects outright
            self._board.check_failed(spec, f"probe failed: {exc!r}")
        else:
            self._board.check_passed(spec, PROBE_OK)

    async def _http_check(self, spec: BackendSpec, check: HealthCheckSpec) -> None:
        try:
            async with asyncio.timeout(check.timeout):
                head, body = await _exchange(spec, check)
        except TimeoutError:
            self._board.check_failed(spec, f"check timed out after {check.timeout:g} s")
        except OSError as exc:
            self._board.check_failed(spec, f"check failed: {_os_reason(exc)}")
        except (_BadAnswer, _TlsFailed) as exc:
            self._board.check_failed(spec, f"check failed: {exc}")
        except asyncio.CancelledError:
            self._board.probe_cancelled(spec)
            raise
        except Exception as exc:
            self._board.check_failed(spec, f"check failed: {exc!r}")
        else:
            result = verdict(check, head, body)
            if result.ok:
                self._board.check_passed(spec, result.reason)
            else:
                self._board.check_failed(spec, result.reason)


class _BadAnswer(Exception):
    """The backend's answer to a check cannot be judged (too long, or cut short)."""


class _TlsFailed(Exception):
    """The TLS handshake with an HTTPS backend failed; the message says why."""


def _os_reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _tls_args(spec: BackendSpec) -> dict[str, Any]:
    """For an HTTPS backend, the TLS arguments of a connection (the pool's context and
    name: a probe passes only if the handshake a request would make passes too)."""
    if spec.tls is None:
        return {}
    return {
        "ssl": tls.client_context(spec),
        "server_hostname": tls.server_hostname(spec),
        "ssl_handshake_timeout": _connect_timeout(spec) + tls_slack,
    }


def _connect_timeout(spec: BackendSpec) -> float:
    return spec.conn_timeout if spec.conn_timeout > 0 else DEFAULT_BACKEND_TIMEOUT


async def _connect(spec: BackendSpec) -> None:
    """Open and close one connection to ``spec`` (for HTTPS, with its TLS handshake);
    raises on failure."""
    loop = asyncio.get_running_loop()
    extra = _tls_args(spec)
    try:
        if spec.unix:
            transport, _ = await loop.create_unix_connection(
                asyncio.Protocol, spec.address, **extra
            )
        elif spec.port is None:
            raise ValueError(f"backend {spec.address} has no port")
        else:
            transport, _ = await loop.create_connection(
                asyncio.Protocol, spec.address, spec.port, **extra
            )
    except ssl.SSLError as exc:
        raise _TlsFailed(tls.handshake_failure(exc)) from None
    transport.close()


async def _open(spec: BackendSpec) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    extra = _tls_args(spec)
    try:
        async with asyncio.timeout(_connect_timeout(spec)):
            if spec.unix:
                return await asyncio.open_unix_connection(
                    spec.address, limit=MAX_CHECK_HEAD, **extra
                )
            if spec.port is None:
                raise ValueError(f"backend {spec.address} has no port")
            return await asyncio.open_connection(
                spec.address, spec.port, limit=MAX_CHECK_HEAD, **extra
            )
    except ssl.SSLError as exc:
        raise _TlsFailed(tls.handshake_failure(exc)) from None


async def _exchange(spec: BackendSpec, check: HealthCheckSpec) -> tuple[bytes, bytes]:
    """Send one check request; return the answer's head and (when the check has a body
    pattern) at most MAX_CHECK_BODY bytes of its body."""
    reader, writer = await _open(spec)
    try:
        writer.write(check_request(check, spec))
        await writer.drain()
        data = b""
        end = None
        while end is None:
            chunk = await reader.read(READ_SIZE)
            if not chunk:
                if not data:
                    raise _BadAnswer("connection closed without an answer")
                raise _BadAnswer("connection closed in the answer's head")
            data += chunk
            end = head_end(data)
            if end is None and len(data) > MAX_CHECK_HEAD:
                raise _BadAnswer(f"answer head longer than {MAX_CHECK_HEAD} bytes")
        head, body = data[:end], data[end:]
        if check.body is not None:
            while len(body) < MAX_CHECK_BODY:
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    break
                body += chunk
        return head, body[:MAX_CHECK_BODY]
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
