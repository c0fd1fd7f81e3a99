"""Pound 4's special backends, answered in-process (issue 15): `Error`, `Success`,
`SendFile` and `Control` in a Service, and error pages with the headers of Pound 4's error
page files (config/backends.py splits them at load time).

`Exchange.dispatch` hands a request whose chosen backend is one of these to ``answer``;
nothing here runs for a configuration without them. The decisions (which file a request
path names, what an answer's head is) are pure functions; the shell reads files in a
thread (``loop.run_in_executor``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import unquote_to_bytes

from standby.control import api, poundview, status
from standby.http1 import BODY_CHUNKED, error_response
from standby.http1.messages import NO_CACHE_HEADERS, reason_phrase
from standby.model import BackendKind, BackendSpec, ListenerSpec

if TYPE_CHECKING:
    from standby.http1 import RequestHead
    from standby.server.seam import ClientSide
    from standby.server.shared import ControlSource, ServiceRuntime

log = logging.getLogger("standby.server")

# SendFile reads and sends a file in pieces of this size: one read per write, and a big
# file never sits whole in memory.
SENDFILE_CHUNK: Final = 256 * 1024
# While the client does not take more (its transport paused writing), the sender looks
# again this often: the transport offers no awaitable to wait on from here.
WRITE_PAUSE_POLL: Final = 0.01
# Pound's SendFile answers text/plain; a Rewrite response SetHeader may change it.
SENDFILE_TYPE: Final = b"text/plain"
SENDFILE_METHODS: Final = frozenset({b"GET", b"HEAD"})
ALLOW_SENDFILE: Final = (b"Allow", b"GET, HEAD")
# A request body sent to the Control backend: a small JSON object, as on the socket, and
# small enough to be relayed to the supervisor in one IPC frame (ipc.MAX_CONTROL_ASK_BODY).
MAX_CONTROL_BODY: Final = 32 * 1024
STATUS_METHODS: Final = frozenset({b"GET", b"HEAD"})  # the status page only shows

Headers = tuple[tuple[bytes, bytes], ...]
# What Pound 4 sends with an error page file unless the file says otherwise, and with the
# `Error` backend's answer (in Pound's spelling, which its testsuite compares): a page that
# stands for a passing condition (a maintenance page) must not be kept by caches.
PAGE_DEFAULTS: Final[Headers] = NO_CACHE_HEADERS
# exchange.R_BODY (exchange imports this module: importing it back would be a cycle).
R_BODY: Final = 1


class Exchange(Protocol):
    """What a responder uses of the Exchange it answers (server/exchange.py, which imports
    this module: typed here so that no import runs back to it)."""

    client: ClientSide
    head: RequestHead
    srt: ServiceRuntime | None
    held: list[bytes] | None
    task: asyncio.Task[None] | None
    status: int
    bytes_out: int
    phase: int
    timeout: float
    req_done: bool

    def _keep_client(self, wanted: bool = True) -> bool: ...
    def _answered(self, status: int, data: bytes, bytes_out: int) -> None: ...
    def _for_method(self, response: bytes) -> bytes: ...
    def _response_broken(self, reason: str) -> None: ...
    def made_request_head(self) -> bytes | None: ...
    def made_response_head(self, raw: bytes, request: bytes) -> bytes | None: ...
    def local_response(
        self,
        status: int,
        reason: str,
        *,
        retry_after: bool = False,
        keep: bool = True,
        edit: bool = False,
    ) -> None: ...


# -- pure decisions --------------------------------------------------------------------------


def page_response(
    status: int,
    page: bytes | None,
    headers: Headers,
    *,
    close: bool,
    extra: Headers = (),
    cache_defaults: bool = False,
) -> bytes:
    """An error answer: ``page`` (None: the built-in one) with an error page file's
    ``headers``; a Content-Type among them replaces the default text/html. A page from a
    file also gets Pound 4's cache headers, unless the file gives its own; so does any page
    when ``cache_defaults`` (the `Error` backend's answer, as in Pound)."""
    if page is None and not headers and not cache_defaults:
        return error_response(status, close=close, extra=extra)
    body = page if page is not None else error_response(status, close=True).split(b"\r\n\r\n")[1]
    content_type = b"text/html"
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason_phrase(status))]
    given = {name.lower() for name, _ in headers}
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-type":
            content_type = value
        elif lower not in (b"content-length", b"connection", b"transfer-encoding"):
            lines.append(b"%s: %s\r\n" % (name, value))
    for name, value in PAGE_DEFAULTS:
        if name.lower() not in given:
            lines.append(b"%s: %s\r\n" % (name, value))
    for name, value in extra:
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.insert(1, b"Content-Type: %s\r\nContent-Length: %d\r\n" % (content_type, len(body)))
    if close:
        lines.append(b"Connection: close\r\n")
    lines += (b"\r\n", body)
    return b"".join(lines)


def listener_page(spec: ListenerSpec, status: int) -> tuple[bytes | None, Headers]:
    """The listener's page for ``status`` and its file's headers."""
    page = spec.error_page(status)
    if page is None:
        return None, ()
    for code, headers in spec.error_headers:
        if code == status:
            return page, headers
    return page, ()


def file_path(root: str, target: bytes) -> str | None:
    """The file under ``root`` that the request target names (Pound: the whole path,
    percent-decoded), or None when it could name something outside: ``..``, a NUL, a
    backslash, or bytes that are not a file name."""
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    if not path.startswith(b"/"):
        return None
    raw = unquote_to_bytes(path)
    if b"\x00" in raw or b"\\" in raw:
        return None
    parts = []
    for part in raw.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            return None
        parts.append(part)
    if not parts:
        return None
    try:
        tail = os.fsdecode(b"/".join(parts))
    except UnicodeDecodeError:
        return None
    return os.path.join(root, tail)


def inside(root_real: str, path_real: str) -> bool:
    """Whether ``path_real`` (a resolved path) lies within ``root_real``."""
    return path_real.startswith(root_real.rstrip("/") + "/")


def sendfile_head(size: int, close: bool) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
        SENDFILE_TYPE,
        size,
        b"Connection: close\r\n" if close else b"",
    )


def success_response(close: bool) -> bytes:
    """`Success`: 200 and an empty body (Pound sends no length; standby says 0)."""
    return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n%s\r\n" % (
        b"Connection: close\r\n" if close else b""
    )


# -- the shell ----------------------------------------------------------------------------


def edited(exchange: Exchange, data: bytes) -> bytes | None:
    """A made answer (``data``: its head, and its body if any) after the response edits of
    the service, then of the listener, as Pound 4.23 applies them to the answers of its
    `Error`, `Success`, `SendFile` and `Metrics` backends and to the pages `RewriteErrors`
    puts in place of a backend's (an `Error 401` service's `Rewrite response` sets the
    `WWW-Authenticate` of a BasicAuth challenge); not to a `Redirect`, an ACME or Control
    answer, nor to the error pages of the proxy's own refusals. Content-Length and
    Connection stay as made: no edit writes or removes them (http1/edit.py). None when an
    edit could not be expanded: the exchange has answered 500 instead."""
    end = data.index(b"\r\n\r\n") + 4
    head = exchange.made_response_head(data[:end], exchange.head.raw)
    return None if head is None else head + data[end:]


def answer(exchange: Exchange, backend: BackendSpec) -> None:
    """Answer ``exchange`` from the special ``backend`` chosen for it."""
    kind = backend.kind
    special = backend.special
    assert special is not None
    if kind is BackendKind.ERROR:
        page, headers = special.page, special.headers
        if page is None:
            page, headers = listener_page(exchange.client.listener.spec, special.status)
        keep = exchange._keep_client()
        data = page_response(special.status, page, headers, close=not keep, cache_defaults=True)
        answered = edited(exchange, data)
        if answered is None:
            return
        body_size = len(answered) - answered.index(b"\r\n\r\n") - 4
        exchange._answered(special.status, exchange._for_method(answered), body_size)
    elif kind is BackendKind.SUCCESS:
        answered = edited(exchange, success_response(not exchange._keep_client()))
        if answered is not None:
            exchange._answered(200, answered, 0)
    elif kind is BackendKind.SENDFILE:
        if exchange.head.method not in SENDFILE_METHODS:
            keep = exchange._keep_client()
            data = error_response(405, close=not keep, extra=(ALLOW_SENDFILE,))
            exchange._answered(405, data, 0)
            return
        request = exchange.made_request_head()  # the file the edited path names (Pound)
        if request is None:
            return  # an expansion failed: 500
        client = exchange.client
        exchange.task = client.loop.create_task(_send_file(exchange, special.directory, request))
    elif kind is BackendKind.STATUS:
        status_page(exchange)
    elif exchange.req_done:  # CONTROL; with a body, _take_body calls control() at its end
        control(exchange)
    elif exchange.head.body == BODY_CHUNKED:  # as the control socket: a small known size
        _control_reply(exchange, api.error_reply(411, "send the body with a Content-Length"))
    elif exchange.head.content_length > MAX_CONTROL_BODY:
        reply = api.error_reply(413, f"the body is limited to {MAX_CONTROL_BODY} bytes")
        _control_reply(exchange, reply)


def _open(root: str, target: bytes) -> tuple[int, int] | None:
    """(descriptor, size) of the regular file ``target`` names under ``root``, or None.
    Runs in a thread: realpath and open touch the disk."""
    path = file_path(root, target)
    if path is None:
        return None
    root_real = os.path.realpath(root)
    real = os.path.realpath(path)
    if not inside(root_real, real):
        return None  # `..` through a symbolic link, or a link that leads out
    try:
        # O_NOFOLLOW: a link put in place of the file after realpath() is refused.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st.st_size


def _close_opened(future: asyncio.Future[tuple[int, int] | None]) -> None:
    """An open that finished after its request was gone: close what it opened."""
    if not future.cancelled() and future.exception() is None:
        opened = future.result()
        if opened is not None:
            os.close(opened[0])


async def _send_file(exchange: Exchange, root: str, request: bytes) -> None:
    """Send the file the request head ``request`` (as edited) names under ``root``."""
    client = exchange.client
    loop = client.loop
    target = request.split(b" ", 2)[1]
    opening = loop.run_in_executor(None, _open, root, target)
    try:
        # Shielded: a cancelled request leaves the open to finish, then closes the file.
        opened = await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_opened)
        raise
    exchange.task = None
    if opened is None or client.closed:
        if opened is not None:
            os.close(opened[0])
        if not client.closed:
            exchange.local_response(404, "no such file")
        return
    fd, size = opened
    reading: asyncio.Future[bytes] | None = None
    try:
        keep = exchange._keep_client()
        head = exchange.made_response_head(sendfile_head(size, not keep), request)
        if head is None:
            return  # a response edit could not be expanded: 500
        if exchange.head.method == b"HEAD":
            exchange._answered(200, head, 0)
            return
        exchange.task = asyncio.current_task()
        exchange.status = 200
        exchange.phase = R_BODY  # a deadline now cuts the answer, as a backend's
        client.transport_write(head)
        sent = 0
        while sent < size:
            reading = loop.run_in_executor(None, os.pread, fd, SENDFILE_CHUNK, sent)
            try:
                chunk = await asyncio.shield(reading)
            except OSError as exc:  # a disk error: the answer is cut, as a backend's
                reading = None
                exchange._response_broken(f"cannot read the file: {exc.strerror or exc}")
                return
            reading = None
            if client.closed:
                return
            if not chunk:  # the file shrank while it was sent: the answer is cut
                exchange._response_broken(f"file shrank to {sent} of {size} bytes")
                return
            chunk = chunk[: size - sent]
            sent += len(chunk)
            exchange.bytes_out = sent
            client.deadline = loop.time() + exchange.timeout
            client.transport_write(chunk)
            while client.write_paused and not client.closed:
                await asyncio.sleep(WRITE_PAUSE_POLL)
        exchange.task = None
        exchange._answered(200, b"", sent)
    finally:
        if reading is not None and not reading.done():
            # A read still runs in its thread: the descriptor stays open until it ends
            # (closed now, its number could be reused and read by that thread).
            reading.add_done_callback(lambda _: os.close(fd))
        else:
            os.close(fd)


def control(exchange: Exchange) -> None:
    """`Control` in a Service: the control API over this request (its body was read)."""
    held = exchange.held
    body = b"".join(held) if held else b""
    exchange.held = None
    method = exchange.head.method.decode("latin-1")
    target = exchange.head.target.decode("latin-1")
    pound = poundview.pound_request(method, target)  # Pound's REST paths and JSON
    if isinstance(pound, api.Reply):
        _control_reply(exchange, pound)
        return
    if pound is not None:
        target = pound.target
    _decide(exchange, method, target, body, pound)


def _decide(
    exchange: Exchange,
    method: str,
    target: str,
    body: bytes,
    pound: poundview.PoundRequest | None,
) -> None:
    """Answer a control API request: relayed to the supervisor with several workers, else
    decided against this process's view."""
    shared = exchange.client.shared
    source = shared.control_source
    if source is not None:  # one of several workers: the supervisor decides, for all
        relay = _relay(exchange, source, method, target, body, pound)
        exchange.task = exchange.client.loop.create_task(relay)
        return
    view = shared.view
    if view is None:
        _control_reply(exchange, api.error_reply(503, "the control API is not available"))
        return
    try:
        decided = api.handle(view, method, target, body, time.time())
    except Exception as exc:  # one bad request must not break the connection's exchange
        log.exception("control request %s %s failed", method, target[:200])
        decided = api.error_reply(500, f"internal error: {type(exc).__name__}")
    if isinstance(decided, api.Reply):
        _control_reply(exchange, decided if pound is None else pound.reply(decided))
        return
    exchange.task = exchange.client.loop.create_task(_reload(exchange))


def status_page(exchange: Exchange) -> None:
    """`Status` in a Service: the status page or one of its resources, read-only; decided
    as the control socket's ``GET /status...`` (by the supervisor, with several workers)."""
    if exchange.head.method not in STATUS_METHODS:
        allow = ("GET", "HEAD")
        _control_reply(exchange, api.error_reply(405, "the status page is read-only", allow))
        return
    target = "/" + status.resource_of(exchange.head.target.decode("latin-1"))
    _decide(exchange, "GET", target, b"", None)


async def _relay(
    exchange: Exchange,
    source: ControlSource,
    method: str,
    target: str,
    body: bytes,
    pound: poundview.PoundRequest | None,
) -> None:
    reply = await source(method, target, body)
    exchange.task = None
    if exchange.client.closed:
        return
    if reply is None:
        reply = api.error_reply(503, "the supervisor did not answer")
    _control_reply(exchange, reply if pound is None else pound.reply(reply))


async def _reload(exchange: Exchange) -> None:
    view = exchange.client.shared.view
    assert view is not None
    ok, message = await view.reload()
    exchange.task = None
    log.info("reload requested through a Control service: %s", message)
    if not exchange.client.closed:
        _control_reply(exchange, api.reload_reply(ok, message))


def _control_reply(exchange: Exchange, reply: api.Reply) -> None:
    keep = exchange._keep_client()
    data = api.serialise(reply, keep)
    exchange._answered(reply.status, exchange._for_method(data), len(reply.body))
