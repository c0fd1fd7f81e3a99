"""Runs the real ``standby`` command line with two stand-ins for parts written elsewhere:
a JSON configuration loader and a minimal forwarding proxy with ``Proxy``'s interface.

This lets the process life cycle (daemon, PID file, signals, jail, privileges) be tested
on its own; the same tests also run against the real ``standby`` when it is available.
Usage: ``python standin.py -f CONFIG.json [standby options]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from standby import cli
from standby.balance.sessions import SessionTables
from standby.clock import SystemClock
from standby.health.board import HealthBoard
from standby.model import BackendKind, BackendSpec, ConfigSpec, ListenerSpec, ServiceSpec
from standby.observe.access import AccessLog, AccessRecord
from standby.process import runner
from standby.process.runner import ProxyFactory
from standby.server.stats import BackendCounters

log = logging.getLogger("standby.process")

READ_CHUNK = 65536  # bytes per read when relaying a response
MAX_HEAD = 65536  # the stand-in refuses larger request heads


def load_json(path: str) -> ConfigSpec:
    with open(path) as src:
        data = json.load(src)
    address, port = data["backend"]
    backend = BackendSpec(kind=BackendKind.PROXY, address=address, port=port)
    service = ServiceSpec(name="web", backends=(backend,))
    listeners = tuple(
        ListenerSpec(name=None, address=addr, port=lport, services=(service,))
        for addr, lport in data["listeners"]
    )
    return ConfigSpec(
        source=path,
        user=data.get("user"),
        group=data.get("group"),
        root_jail=data.get("root_jail"),
        daemon=data.get("daemon", True),
        log_level=data.get("log_level", 1),
        log_facility=data.get("log_facility", "daemon"),
        grace=data.get("grace", 30.0),
        pid_file=data.get("pid_file"),
        listeners=listeners,
    )


@dataclass
class Head:
    method: bytes
    target: bytes
    version: bytes
    headers: dict[bytes, bytes] = field(default_factory=dict)

    def header(self, name: bytes) -> bytes | None:
        return self.headers.get(name.lower())


def parse_head(raw: bytes) -> Head:
    lines = raw.split(b"\r\n")
    method, target, version = lines[0].split(b" ", 2)
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    return Head(method, target, version, headers)


class StandInProxy:
    """Relays one request per connection to the first backend; logs it."""

    def __init__(
        self, config: ConfigSpec, *, access_log: AccessLog | None, probe: bool = True
    ) -> None:
        self.config = config
        # The runner's interface: supervised workers mirror health into ``board``.
        self.board = HealthBoard(SystemClock(), alive_interval=config.alive)
        self.keep_alive = True
        self.access_log = access_log
        self.servers: list[asyncio.AbstractServer] = []
        # A supervised worker's other slots' sockets, and the servers adopting some of them.
        self.held: list[socket.socket] = []
        self.extra: dict[int, list[asyncio.AbstractServer]] = {}
        self.accepting = True
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()
        self.sessions = SessionTables()  # no Session in its configurations (issue 15)

    async def start(self, sockets: list[socket.socket]) -> None:
        self.servers.extend(await self._listen(sockets))

    async def _listen(self, sockets: list[socket.socket]) -> list[asyncio.AbstractServer]:
        servers = []
        for sock, spec in zip(sockets, self.config.listeners, strict=True):

            async def handle(
                reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter,
                spec: ListenerSpec = spec,
            ) -> None:
                await self._client(reader, writer, spec)

            servers.append(await asyncio.start_server(handle, sock=sock))
        return servers

    def hold(self, sockets: list[socket.socket]) -> None:
        self.held.extend(sockets)

    def serve_extra(self, tag: int, sockets: list[socket.socket]) -> asyncio.Task[None] | None:
        if not self.accepting or tag in self.extra:
            return None
        mine: list[asyncio.AbstractServer] = []
        self.extra[tag] = mine
        return asyncio.get_running_loop().create_task(self._open_extra(tag, mine, sockets))

    async def _open_extra(
        self, tag: int, mine: list[asyncio.AbstractServer], sockets: list[socket.socket]
    ) -> None:
        servers = await self._listen([sock.dup() for sock in sockets])
        if self.extra.get(tag) is mine:
            mine.extend(servers)
        else:  # released or stopped meanwhile
            for server in servers:
                server.close()

    def release_extra(self, tag: int) -> None:
        for server in self.extra.pop(tag, []):
            server.close()

    async def _client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, spec: ListenerSpec
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.add(writer)
        started = time.time()
        backend = spec.services[0].backends[0]
        sent = 0
        answer = b""
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            head = parse_head(raw[:MAX_HEAD])
            up_reader, up_writer = await asyncio.open_connection(backend.address, backend.port)
            try:
                up_writer.write(raw)
                await up_writer.drain()
                while chunk := await up_reader.read(READ_CHUNK):
                    answer = answer or chunk  # its status line, for the access log
                    writer.write(chunk)
                    sent += len(chunk)
                    await writer.drain()
            finally:
                up_writer.close()
            if self.access_log is not None:
                self.access_log.log(
                    AccessRecord(
                        peer=writer.get_extra_info("peername")[0],
                        listener=spec,
                        service=spec.services[0],
                        backend=backend,
                        request=head,
                        status=200,
                        bytes_out=sent,
                        started=started,
                        duration=time.time() - started,
                        response=answer,
                    )
                )
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            self.writers.discard(writer)
            self.tasks.discard(task)

    async def reload_from_source(self) -> tuple[bool, str]:
        """Checks the file only: the stand-in keeps relaying to the first backend."""
        try:
            load_json(self.config.source)
        except (OSError, ValueError, KeyError) as exc:
            log.error("reload rejected, the running configuration stays: %s", exc)
            return False, str(exc)
        log.info("configuration reloaded")
        return True, "reloaded"

    def set_keep_alive(self, enabled: bool) -> None:
        """One request per connection already: nothing to close (ProxyLike's switch, which
        a worker whose supervisor is gone turns off)."""
        self.keep_alive = enabled

    def set_listener_enabled(self, index: int, enabled: bool) -> None:
        pass  # the stand-in has no switches (no control socket in its configurations)

    def set_service_enabled(self, service: ServiceSpec, enabled: bool) -> None:
        pass

    def counters_of(self, backend: BackendSpec) -> BackendCounters | None:
        return None

    # No stale stores in the stand-in: no shared tables to replicate.
    on_table_change: Callable[[str, bytes, bool], None] | None = None

    def table_names(self) -> list[str]:
        return []

    def table(self, name: str) -> None:
        return None

    def _stop_accepting(self) -> None:
        self.accepting = False
        for server in self.servers:
            server.close()
        for tag in list(self.extra):
            self.release_extra(tag)
        for sock in self.held:
            sock.close()
        self.held = []

    async def stop(self, grace: float, *, linger: float = 0.0) -> None:
        self._stop_accepting()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=grace)
        self.abort()

    def abort(self) -> None:
        self._stop_accepting()
        for writer in list(self.writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        for task in list(self.tasks):
            task.cancel()


def main() -> int:
    factory: ProxyFactory = StandInProxy
    cli._config_api = lambda *options: (load_json, ValueError)  # -W options unused
    cli._proxy_factory = lambda: factory
    # A supervisor reloads with the loader it is given: the stand-in's JSON one.
    cli.run = functools.partial(runner.run, loader=load_json)  # type: ignore[attr-defined]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
