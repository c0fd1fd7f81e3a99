"""The client side of one connection: read request heads, run one exchange at a time,
keep the connection alive between them, and enforce the client timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from typing import TYPE_CHECKING, Final

from standby.http1 import (
    BODY_NONE,
    Forwarding,
    HttpError,
    parse_request_head,
)
from standby.observe.access import AccessRecord, UnparsedRequest, refusal_line
from standby.observe.logsetup import NOTICE
from standby.server.exchange import Exchange
from standby.server.lane import Lane
from standby.server.responders import listener_page, page_response
from standby.server.seam import PAUSE_CONNECT, PAUSE_PIPELINE, PAUSE_UPSTREAM, ClientSide
from standby.tls.peer import ssl_lines
from standby.tls.policy import forced_http10
from standby.upstream.protocol import UpstreamProtocol
from standby.upstream.unconnected import UNCONNECTED

if TYPE_CHECKING:
    from standby.observe.access import RequestView
    from standby.server.shared import ListenerRuntime, Shared

log = logging.getLogger("standby.server")

# Read on every request: a Final module attribute is a C static once compiled (see lane.py).
_parse_request_head: Final = parse_request_head

# Connection states.
S_HEAD: Final = 0  # waiting for (the rest of) a request head
S_EXCHANGE: Final = 1  # a request is being handled
S_TUNNEL: Final = 2  # an upgraded connection (WebSocket): bytes flow both ways
S_LINGER: Final = 3  # an error response was sent; reading and discarding until EOF or deadline
S_CLOSED: Final = 4
S_LANE: Final = 5  # a request in the fast lane (server/lane.py): sent, waiting for its answer

# After an error response, keep reading (and discarding) this long before closing, so the
# client receives the response instead of a reset caused by its own unread request bytes.
LINGER_TIMEOUT = 2.0
# SO_LINGER on with a zero timeout: close() sends RST.
_LINGER_RESET = struct.pack("ii", 1, 0)
# Pipelined bytes held while the current exchange runs; reading pauses past this.
PIPELINE_HIGH_WATER = 64 * 1024


class ClientProtocol(ClientSide):
    """asyncio protocol for one accepted client connection (by its methods, not by
    inheriting asyncio.Protocol: see UpstreamProtocol for why), plain or TLS; the client
    seam (server/seam.py) of the exchanges it runs, one at a time."""

    __slots__ = ("buf", "client_eof", "exchange", "lane", "pending", "state", "transport")

    def __init__(self, shared: Shared, listener: ListenerRuntime) -> None:
        super().__init__(shared, listener)
        self.transport = UNCONNECTED
        self.buf = b""
        self.pending = b""
        self.state = S_HEAD
        self.exchange: Exchange | None = None
        self.lane: Lane | None = None  # made at the first request that takes it
        self.client_eof = False

    # -- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer = peer[0]
        elif peer:
            self.peer = str(peer)
        else:
            self.peer = "unix"
        listener = self.listener
        peer_bytes = self.peer.encode("ascii", "replace")
        if listener.tls:  # the handshake is done: its X-SSL-* lines, once per connection
            ssl_object = transport.get_extra_info("ssl_object")
            extra = ssl_lines(ssl_object, listener.client_certs)
            if listener.cert_conditions and ssl_object is not None:
                self.client_cert = ssl_object.getpeercert(binary_form=True) or None
            self.forwarding = Forwarding(peer_bytes, listener.proto, listener.port, extra, True)
        else:
            self.forwarding = Forwarding(peer_bytes, listener.proto, listener.port)
        shared = self.shared
        self.deadline = shared.loop.time() + self.listener.spec.client_timeout
        shared.reaper.add(self)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state != S_HEAD:
            if state in (S_EXCHANGE, S_TUNNEL):
                exchange = self.exchange
                assert exchange is not None
                exchange.client_data(data)
            elif state == S_LANE:
                self.hold_pipelined(data)  # the lane's request has no body: a next one
            return  # S_LINGER, S_CLOSED: discard
        # S_HEAD: (a part of) a request head; read here, not in a helper: every request.
        listener = self.listener
        buf = self.buf
        if buf:
            buf += data
            # A head can only complete (or break a rule we check) at a line end or past the
            # size limit; re-parsing on every other read would cost O(n^2) for a head sent a
            # byte at a time.
            if b"\n" not in data and len(buf) <= listener.limits.max_head:
                self.buf = buf
                return
            now = self.loop.time()
        else:
            buf = data
            now = self.loop.time()
            # The whole head must arrive within Client seconds of its first byte.
            self.deadline = now + listener.spec.client_timeout
        try:
            parsed = _parse_request_head(buf, listener.limits, listener.methods)
        except HttpError as exc:
            self.buf = b""
            line = UnparsedRequest.of(buf, listener.limits.max_request_line)
            self.reject(exc.status, exc.reason, line)
            return
        if parsed is None:
            self.buf = buf
            return
        head, used = parsed
        self.buf = b""
        check = listener.spec.check_url
        if check is not None and not check.search(head.target, False):  # undecided: 501
            self.reject(501, "request target fails CheckURL", head)
            return
        # False already only when a reload dropped this connection's listener: this answer
        # is its last, and says so (Connection: close).
        self.keep_alive = self.keep_alive and head.keep_alive
        if listener.no_https11 and forced_http10(listener.no_https11, head.header(b"user-agent")):
            self.keep_alive = False  # NoHTTPS11: one request per TLS connection
        rest = buf[used:] if used < len(buf) else b""
        if head.body == BODY_NONE and listener.lane:
            lane = self.lane
            if lane is None:
                lane = self.lane = Lane(self)
            self.state = S_LANE
            lane.start(head, rest, now)
            return
        self.state = S_EXCHANGE
        exchange = Exchange(self, head, now)
        self.exchange = exchange
        exchange.start(rest, now)

    def eof_received(self) -> bool:
        if self.state == S_TUNNEL and self.exchange is not None:
            conn = self.exchange.upstream
            if conn is not None and conn.transport.can_write_eof():
                conn.transport.write_eof()
                return True  # keep the other direction open
        if self.state == S_LANE or (
            self.state == S_EXCHANGE and self.exchange is not None and self.exchange.req_done
        ):
            # The client finished sending (a half-close): the response still goes out, and
            # so do the answers to complete requests it pipelined before; then we close.
            self.client_eof = True
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.state == S_LANE:
            assert self.lane is not None
            self.lane.close()
        self.state = S_CLOSED
        self.shared.reaper.discard(self)
        exchange = self.exchange
        self.exchange = None
        if exchange is not None:
            exchange.close()

    def pause_writing(self) -> None:
        self.write_paused = True
        conn = self._upstream()
        if conn is not None:
            conn.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        conn = self._upstream()
        if conn is not None:
            conn.transport.resume_reading()

    def _upstream(self) -> UpstreamProtocol | None:
        """The backend connection the current request uses, if any."""
        if self.state == S_LANE:
            assert self.lane is not None
            return self.lane.conn
        exchange = self.exchange
        return None if exchange is None else exchange.upstream

    # -- between requests ---------------------------------------------------------------

    def hold_pipelined(self, data: bytes) -> None:
        """Bytes of a next request, kept until the current exchange is done."""
        self.pending += data
        if len(self.pending) > PIPELINE_HIGH_WATER:
            self.pause_reading_for(PAUSE_PIPELINE)

    def adopt(self, exchange: object) -> None:
        """The lane hands its request over to ``exchange``."""
        assert isinstance(exchange, Exchange)
        self.exchange = exchange
        self.state = S_EXCHANGE

    def exchange_done(self, exchange: object) -> None:
        """The current exchange finished sending its response."""
        current = self.exchange
        if current is not exchange or current is None:
            return
        self.exchange = None
        if self.shared.access_log is not None:
            current.log()
        self.after_request(current.req_done)

    def after_request(self, req_done: bool) -> None:
        """Close, linger, or wait for the next request (``req_done``: the request was read
        whole)."""
        if self.closed:
            return
        shared = self.shared
        if shared.successor is not None and self.keep_alive:
            self._move_to_successor()  # changes self.shared
        # Whatever paused reading for this exchange is over with it.
        if self.paused:
            self.resume_reading_for(PAUSE_CONNECT | PAUSE_UPSTREAM)
        if not self.keep_alive or self.shared.stopping or (self.client_eof and not self.pending):
            if req_done:
                self.state = S_CLOSED
                self.transport.close()
            else:
                # Unread request bytes would turn our close into a reset that can destroy
                # the response in flight: read and discard them for a while first.
                self._linger()
            return
        self.state = S_HEAD
        self.deadline = self.loop.time() + self.listener.spec.client_timeout
        if self.pending:
            data = self.pending
            self.pending = b""
            self.resume_reading_for(PAUSE_PIPELINE)
            # Later, not now: a run of pipelined requests answered locally must not recurse.
            self.shared.loop.call_soon(self._resume_pipeline, data)

    def follow_successor(self) -> None:
        """After a reload: an idle connection takes the new configuration now (a busy one
        does when its exchange ends)."""
        if self.state == S_HEAD and not self.closed:
            self._move_to_successor()

    def _move_to_successor(self) -> None:
        shared = self.shared
        newest = shared.successor
        while newest is not None and newest.successor is not None:
            newest = newest.successor
        if newest is None:
            return
        runtime = newest.listener_by_key.get((self.listener.spec.address, self.listener.spec.port))
        if runtime is None:
            # Its listener is gone from the configuration: finish with this connection.
            self.keep_alive = False
            return
        shared.reaper.discard(self)
        self.shared = newest
        self.listener = runtime
        fwd = self.forwarding
        self.forwarding = Forwarding(fwd.peer, runtime.proto, runtime.port, fwd.extra, runtime.tls)
        newest.reaper.add(self)

    def _resume_pipeline(self, data: bytes) -> None:
        if self.state == S_HEAD and not self.closed:
            self.data_received(data)
            if self.client_eof and self.state == S_HEAD and not self.closed:
                # What the half-closed client left is not a complete request: done.
                self.state = S_CLOSED
                self.transport.close()

    def enter_tunnel(self) -> None:
        self.state = S_TUNNEL
        if self.pending:
            data = self.pending
            self.pending = b""
            self.resume_reading_for(PAUSE_PIPELINE)
            exchange = self.exchange
            assert exchange is not None
            exchange.client_data(data)

    # -- output -------------------------------------------------------------------------

    def transport_write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    def transport_writelines(self, first: bytes, second: bytes) -> None:
        if not self.closed:
            self.transport.writelines((first, second))

    def reject(
        self, status: int, reason: str, request: RequestView | None, *, logged: bool = True
    ) -> None:
        """An error response for a request we will not handle; then close, lingering.

        As Pound, a diagnostic line says why (at NOTICE, whatever the LogLevel) and the
        access log has the request (``logged=False``: a head that never arrived whole has
        none, as in Pound); the request is the exchange's when one runs."""
        if self.closed:
            return
        page, headers = listener_page(self.listener.spec, status)
        response = page_response(status, page, headers, close=True)
        body_size = len(response) - response.index(b"\r\n\r\n") - 4
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            backend = exchange.backend
            where = None if backend is None else backend.describe()
            log.log(NOTICE, "%s", refusal_line(status, self.peer, where, exchange.head, reason))
            exchange.status = status
            exchange.bytes_out = body_size
            exchange.answer = response
            exchange.close()
            exchange.log()
        else:
            log.log(NOTICE, "%s", refusal_line(status, self.peer, None, request, reason))
            if logged:
                self.log_refused(request, status, response, body_size)
        self.transport.write(response)
        self._linger()

    def _linger(self) -> None:
        transport = self.transport
        self.state = S_LINGER
        self.pending = b""
        self.paused = 0
        transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
            self.deadline = self.loop.time() + LINGER_TIMEOUT
        else:
            transport.close()

    def abort(self) -> None:
        """Break the connection (a truncated response must not look complete)."""
        if not self.closed:
            self.state = S_CLOSED
            transport = self.transport
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family != socket.AF_UNIX:
                # A reset, not a FIN queued behind unsent data: the client must see the
                # response broken, and the kernel must not keep its buffers for minutes.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()

    def close_if_idle(self) -> bool:
        """For a graceful stop: close now if no request is in progress."""
        if self.state == S_HEAD and not self.buf:
            self.state = S_CLOSED
            self.transport.close()
            return True
        return False

    # -- flow control -------------------------------------------------------------------

    def pause_reading_for(self, reason: int) -> None:
        if not self.paused and not self.closed:
            self.transport.pause_reading()
        self.paused |= reason

    def resume_reading_for(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        if not self.paused and not self.closed:
            self.transport.resume_reading()

    # -- timeouts -----------------------------------------------------------------------

    def on_deadline(self) -> None:
        # Fire once; a handler that keeps the connection sets a new deadline.
        self.deadline = float("inf")
        state = self.state
        if state == S_HEAD:
            buf = self.buf
            if buf:
                # Pound logs a head that timed out as dropped, with no access line.
                line = UnparsedRequest.of(buf, self.listener.limits.max_request_line)
                self.reject(408, "request head not received in time", line, logged=False)
            else:
                self.state = S_CLOSED
                self.transport.close()
        elif state in (S_EXCHANGE, S_TUNNEL):
            exchange = self.exchange
            assert exchange is not None
            exchange.on_deadline()
        elif state == S_LANE:
            lane = self.lane
            assert lane is not None
            lane.on_deadline()
        elif state == S_LINGER:
            self.state = S_CLOSED
            self.transport.close()

    # -- access log ---------------------------------------------------------------------

    def log_refused(
        self, request: RequestView | None, status: int, response: bytes, bytes_out: int
    ) -> None:
        """The access line of a request refused before any exchange ran: no service, no
        backend; its time counts from the head's first byte (when its deadline was set)."""
        access = self.shared.access_log
        if access is None:
            return
        spec = self.listener.spec
        form = access.form_for(spec)
        if form is None:
            return
        if form.regular:
            access.log_regular(self.peer, request, status, response, spec)
            return
        timeout = spec.client_timeout
        duration = self.loop.time() - (self.deadline - timeout)
        if not 0.0 <= duration <= timeout:
            duration = 0.0  # (no head deadline running)
        access.write(
            form,
            AccessRecord(
                self.peer,
                spec,
                None,
                None,
                request,
                status,
                bytes_out,
                time.time() - duration,
                duration,
                response,
            ),
        )
