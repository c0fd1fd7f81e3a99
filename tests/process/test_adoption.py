"""A worker's proxy accepting on another slot's listening sockets (``Adopt``) and letting go
(``Release``), in one process with real loopback sockets: connections queued before the
adoption are answered, a release leaves the socket and its queue alone, a stop closes the
sockets held for adoption."""

from __future__ import annotations

import asyncio
import select
import socket
from typing import cast

import uvloop

from standby.clock import SystemClock
from standby.health.board import HealthBoard
from standby.process.channel import Channel
from standby.process.ipc import Adopt, Beat, Message, Release
from standby.process.lifecycle import ProxyLike
from standby.process.worker import WorkerLink
from standby.server.proxy import Proxy
from tests.support.backend import Backend
from tests.support.configs import one_backend
from tests.support.harness import ProxyThread, config_with_ports, listening_socket

DEADLINE = 30.0  # generous: two noisy shared cores; an upper bound, never a measurement
REQUEST = b"GET / HTTP/1.0\r\nHost: www.example.com\r\n\r\n"


def send_request(port: int) -> socket.socket:
    """A new connection with a whole request sent: it waits in the listen queue until
    somebody accepts it (the kernel completes the handshake on its own)."""
    client = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    client.sendall(REQUEST)
    return client


def response(client: socket.socket) -> bytes:
    chunks = []
    with client:
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def adopt(thread: ProxyThread, tag: int, sockets: list[socket.socket]) -> None:
    """``serve_extra`` in the proxy's loop, until its servers are open."""
    proxy = thread.proxy
    assert proxy is not None and thread.loop is not None

    async def adopted() -> None:
        task = proxy.serve_extra(tag, sockets)
        if task is not None:
            await task

    asyncio.run_coroutine_threadsafe(adopted(), thread.loop).result(DEADLINE)


def test_adopt_release_and_adopt_again_keep_the_queue() -> None:
    with Backend("adopted") as backend:
        config, sockets = config_with_ports(one_backend(backend.port))
        spare = listening_socket()  # another slot's socket (here on a port of its own)
        spare_port = int(spare.getsockname()[1])
        thread = ProxyThread(config, sockets).start()
        try:
            proxy: Proxy | None = thread.proxy
            assert proxy is not None
            queued = send_request(spare_port)  # before any adoption: waits in the queue
            adopt(thread, 1, [spare])
            assert thread.call(proxy.serving_extra) == [1]
            assert response(queued).endswith(b"\r\n\r\nadopted")
            assert response(send_request(spare_port)).endswith(b"\r\n\r\nadopted")

            thread.call(lambda: proxy.release_extra(1))
            assert thread.call(proxy.serving_extra) == []
            assert spare.fileno() != -1  # our descriptor is untouched: only the dup closed
            # Nobody accepts now: a new connection waits in the queue, where this test can
            # take it itself (were the proxy still accepting, it would take it first).
            waiting = send_request(spare_port)
            assert select.select([spare], [], [], DEADLINE)[0] == [spare]
            taken, _ = spare.accept()
            with taken, waiting:
                assert taken.recv(len(REQUEST)) == REQUEST

            # Adopted again (its worker died once more): the queue is served again.
            queued = send_request(spare_port)
            adopt(thread, 1, [spare])
            assert response(queued).endswith(b"\r\n\r\nadopted")
            # A second Adopt of the same slot changes nothing.
            adopt(thread, 1, [spare])
            assert thread.call(proxy.serving_extra) == [1]
        finally:
            thread.stop()
            spare.close()


def test_a_release_that_overtakes_the_adoption_leaves_nothing_serving() -> None:
    with Backend("adopted") as backend:
        config, sockets = config_with_ports(one_backend(backend.port))
        spare = listening_socket()
        thread = ProxyThread(config, sockets).start()
        try:
            proxy = thread.proxy
            assert proxy is not None

            async def adopt_then_release() -> None:
                # Adopt and Release read from one buffer are handled back to back, before
                # the adoption's servers could open.
                task = proxy.serve_extra(1, [spare])
                proxy.release_extra(1)
                assert task is not None
                await task

            assert thread.loop is not None
            asyncio.run_coroutine_threadsafe(adopt_then_release(), thread.loop).result(DEADLINE)
            assert thread.call(proxy.serving_extra) == []
            waiting = send_request(int(spare.getsockname()[1]))
            assert select.select([spare], [], [], DEADLINE)[0] == [spare]
            taken, _ = spare.accept()
            taken.close()
            waiting.close()
        finally:
            thread.stop()
            spare.close()


def test_a_stopping_proxy_closes_what_it_holds_and_adopts_no_more() -> None:
    with Backend("adopted") as backend:
        config, sockets = config_with_ports(one_backend(backend.port))
        held = [listening_socket(), listening_socket()]
        thread = ProxyThread(config, sockets).start()
        proxy = thread.proxy
        assert proxy is not None
        thread.call(lambda: proxy.hold(held))
        adopt(thread, 1, [held[0]])
        thread.stop()
        assert [sock.fileno() for sock in held] == [-1, -1]
        assert proxy.serving_extra() == []


# -- the worker's side of the channel ---------------------------------------------------------


class RecordingProxy:
    """What a WorkerLink asks of its proxy about other slots' sockets, recorded."""

    def __init__(self, expected: int) -> None:
        self.board = HealthBoard(SystemClock())
        self.calls: list[tuple[str, int, int]] = []  # (what, slot, how many sockets)
        self.expected = expected
        self.done = asyncio.Event()  # set once ``expected`` calls came

    def _call(self, what: str, tag: int, count: int) -> None:
        self.calls.append((what, tag, count))
        if len(self.calls) >= self.expected:
            self.done.set()

    def serve_extra(self, tag: int, sockets: list[socket.socket]) -> None:
        self._call("serve", tag, len(sockets))

    def release_extra(self, tag: int) -> None:
        self._call("release", tag, 0)


def test_a_worker_beats_from_its_loop_and_follows_adopt_and_release() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        got: list[Message] = []
        beats = asyncio.Event()

        def on_message(message: Message) -> None:
            got.append(message)
            if sum(isinstance(m, Beat) for m in got) >= 2:
                beats.set()

        _, supervisor = await loop.create_unix_connection(
            lambda: Channel(on_message, lambda: None), sock=theirs
        )
        proxy = RecordingProxy(expected=3)
        slots = [[listening_socket()] for _ in range(3)]
        link = WorkerLink(cast("ProxyLike", proxy), [], lambda: None, index=1, slot_sockets=slots)
        _, link.channel = await loop.create_unix_connection(
            lambda: Channel(link.on_message, link.on_lost), sock=ours
        )
        try:
            link.start_beats(loop)
            async with asyncio.timeout(DEADLINE):
                await beats.wait()  # one at once, the next a HEARTBEAT_INTERVAL later
            for message in (Adopt(1), Adopt(7), Adopt(2), Release(2), Adopt(0)):
                supervisor.send(message)
            async with asyncio.timeout(DEADLINE):
                await proxy.done.wait()
            # Its own slot and one that does not exist are ignored.
            assert proxy.calls == [("serve", 2, 1), ("release", 2, 0), ("serve", 0, 1)]
        finally:
            link.close()
            supervisor.close()
            for group in slots:
                group[0].close()

    uvloop.run(main())
