"""Running a ControlServer in a test: short socket paths, raw HTTP exchanges."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from standby.clock import FakeClock
from standby.control.server import ControlServer
from standby.control.view import RuntimeView
from tests.control.fakes import NOW

T = TypeVar("T")
TEST_DEADLINE = 30.0  # seconds: every test stops by itself even if the server hangs


@contextlib.contextmanager
def short_dir() -> Iterator[Path]:
    """A directory with a short path: AF_UNIX paths are limited to about 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sbctl", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, TEST_DEADLINE)

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def serving(view: RuntimeView, path: Path, **kwargs: Any) -> AsyncIterator[ControlServer]:
    server = ControlServer(str(path), view, clock=FakeClock(wall_start=NOW), **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def exchange(
    path: Path, data: bytes, *, byte_by_byte: bool = False, half_close: bool = False
) -> bytes:
    """Send ``data`` on a fresh connection (then EOF if ``half_close``) and read until the
    server closes."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        if byte_by_byte:
            for i in range(len(data)):
                writer.write(data[i : i + 1])
                await writer.drain()
        else:
            writer.write(data)
        if half_close:
            writer.write_eof()
        return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    assert int(headers["content-length"]) == len(body)
    return status, headers, body


async def wait_until(condition: Any, what: str, deadline: float = 20.0) -> None:
    """Poll ``condition()`` on the event loop until true; fail after ``deadline`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
