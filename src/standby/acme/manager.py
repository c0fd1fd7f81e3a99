"""The ACME client's task: decides when each certificate is (re)issued and runs the
blocking conversation (``session``) and file work (``store``) in a thread, so that serving
never waits for it. It lives in the process that owns health: the single proxy, or the
supervisor when there are several workers (whose listeners answer the challenges from the
shared challenge directory, and whose HTTPS listeners pick the new file up themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from standby.acme.problems import AcmeError
from standby.acme.schedule import BACKOFF_DELAYS, backoff, next_issue, renew_at
from standby.acme.session import AcmeSession, Stopped
from standby.acme.store import AcmeStore
from standby.model import AcmeClientSpec, AutoCertSpec

log = logging.getLogger("standby.acme")

T = TypeVar("T")

# The longest single sleep: the schedule is looked at again at least this often, so a
# clock that jumps (a suspended machine) delays a renewal by an hour at most.
MAX_SLEEP = 3600.0


async def in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a daemon thread of its own. Unlike ``asyncio.to_thread`` the thread
    does not hold up the process's exit: a stopped client's thread ends at its next step
    (``stop`` event) or request timeout, and nobody waits for it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[[], None]) -> None:
        def settle() -> None:
            if not future.done():
                setter()

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(settle)

    def work() -> None:
        try:
            result = fn()
        except BaseException as exc:  # every outcome goes to the awaiting task
            error = exc
            deliver(lambda: future.set_exception(error))
        else:
            deliver(lambda: future.set_result(result))

    threading.Thread(target=work, name="standby-acme", daemon=True).start()
    return await future


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class AcmeManager:
    """Obtains and renews ``spec.certificates``, one at a time."""

    def __init__(
        self,
        spec: AcmeClientSpec,
        *,
        delays: tuple[float, ...] = BACKOFF_DELAYS,
        wall: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.spec = spec
        self.delays = delays
        self.wall = wall
        self.rand = rand
        self.store = AcmeStore(spec.store)
        self.due: dict[str, float] = {}  # certificate file -> when its next order is due
        self.failures: dict[str, int] = {}  # certificate file -> failures in a row
        self.issued: dict[str, int] = {}  # certificate file -> certificates obtained
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await in_thread(self.store.prepare)
                key = await in_thread(self.store.account_key)
                break
            except (OSError, ValueError) as exc:
                failures += 1
                delay = backoff(failures, self.rand(), delays=self.delays)
                log.error("ACME store %s: %s; again in %.0f s", self.spec.store, exc, delay)
                await asyncio.sleep(delay)
        now = self.wall()
        for cert in self.spec.certificates:
            lifetime = await in_thread(functools.partial(self.store.lifetime, cert.file))
            due = next_issue(now, lifetime, frozenset(cert.names))
            self.due[cert.file] = due
            if lifetime is not None and due > now:
                log.info(
                    "certificate %s valid until %s, renewal from %s",
                    cert.file,
                    _when(lifetime.not_after),
                    _when(due),
                )
        session = AcmeSession(self.spec.server, key, self._stop, self.spec.ca_file)
        try:
            await self._serve(session)
        finally:
            session.close()

    async def _serve(self, session: AcmeSession) -> None:
        certificates = {cert.file: cert for cert in self.spec.certificates}
        if not certificates:
            await asyncio.Event().wait()  # nothing to obtain; challenges of others served
        while True:
            file = min(self.due, key=self.due.__getitem__)
            delay = self.due[file] - self.wall()
            if delay > 0:
                await asyncio.sleep(min(delay, MAX_SLEEP))
                continue
            await self._obtain(session, certificates[file])

    async def _obtain(self, session: AcmeSession, cert: AutoCertSpec) -> None:
        names = ", ".join(cert.names)
        email = self.spec.email

        def conversation() -> None:
            session.account(email)
            session.issue(self.store, cert.names, cert.file)

        try:
            await in_thread(conversation)
        except Stopped:
            raise asyncio.CancelledError from None
        except (AcmeError, OSError, ValueError) as exc:
            failures = self.failures[cert.file] = self.failures.get(cert.file, 0) + 1
            later = exc.retry_after if isinstance(exc, AcmeError) else None
            delay = backoff(failures, self.rand(), later, self.delays)
            self.due[cert.file] = self.wall() + delay
            refused = isinstance(exc, AcmeError) and exc.refused
            log.log(
                logging.ERROR if refused else logging.WARNING,
                "certificate for %s not obtained (attempt %d): %s; next attempt in %.0f s",
                names,
                failures,
                exc,
                delay,
            )
            return
        self.failures[cert.file] = 0
        self.issued[cert.file] = self.issued.get(cert.file, 0) + 1
        lifetime = await in_thread(lambda: self.store.lifetime(cert.file))
        if lifetime is None:  # written but unreadable: try again after a back-off
            self.due[cert.file] = self.wall() + backoff(1, self.rand(), delays=self.delays)
            log.error("certificate %s was written but cannot be read back", cert.file)
            return
        self.due[cert.file] = renew_at(lifetime)
        log.info(
            "certificate for %s obtained (%s), valid until %s, renewal from %s",
            names,
            cert.file,
            _when(lifetime.not_after),
            _when(self.due[cert.file]),
        )


async def follow(current: AcmeManager | None, spec: AcmeClientSpec | None) -> AcmeManager | None:
    """The manager for ``spec`` after a start or reload: ``current`` when its section is
    unchanged, else a new one (``current`` stopped)."""
    if current is not None and current.spec == spec:
        return current
    if current is not None:
        await current.stop()
    if spec is None:
        return None
    manager = AcmeManager(spec)
    manager.start()
    return manager
