"""One request and its response: route, select, connect, stream both ways.

The exchange is driven by events from the client connection (request body bytes) and from
the upstream connection (response bytes, flow control, loss). Decisions about bytes come from
``standby.http1``; decisions about backends from routing, balance and health. This module only
sequences them and moves bytes between transports, with backpressure both ways.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Set
from typing import TYPE_CHECKING, Final

from standby.acme.responder import ALLOW, answer_challenge, challenge_ok
from standby.cache.policy import head_fields, request_key
from standby.control.api import metrics_snapshot
from standby.http1 import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    ChunkedBody,
    HttpError,
    LengthBody,
    RequestHead,
    ResponseHead,
    UntilCloseBody,
    client_response_head,
    error_response,
    forward_head,
    parse_response_head,
    redirect_response,
)
from standby.http1.body import DechunkedBody
from standby.http1.edit import (
    ExpansionFailed,
    Head,
    LocationRule,
    edit_request,
    edit_response,
    rewrite_destination,
    rewrite_locations,
)
from standby.http1.request import forward_head_options
from standby.http1.response import dechunked_head, parse_response_head_python
from standby.model import (
    DEFAULT_BACKEND_TIMEOUT,
    DEFAULT_HEADER_OPTIONS,
    BackendKind,
    BackendSpec,
    ServiceSpec,
)
from standby.observe.access import NO_BACKEND, NO_SERVICE, redirect_line, refusal_line
from standby.observe.logsetup import NOTICE
from standby.observe.metrics import CONTENT_TYPE, render_openmetrics
from standby.routing import expand, expansion_messages, has_expansions, is_literal, match_conditions
from standby.server import responders
from standby.server.policy import ServicePolicy
from standby.server.seam import PAUSE_CONNECT, PAUSE_UPSTREAM, ClientSide
from standby.upstream.pool import ConnectFailed, Pool
from standby.upstream.protocol import UpstreamProtocol

if TYPE_CHECKING:
    from standby.balance.sessions import Sticky
    from standby.cache.store import Capture
    from standby.server.shared import BackendRuntime, MetricsSource, ServiceRuntime

log = logging.getLogger("standby.server")

# Phases of the response side.
R_WAIT = 0  # nothing of the response has reached the client
R_BODY = 1  # head sent, streaming the body
R_TUNNEL = 2  # 101 Switching Protocols: bytes flow both ways unparsed
R_DONE = 3

# Extra time over ConnTO before the client's deadline fires during a connect, so that the
# connect attempt's own timeout (which re-runs selection) always comes first.
CONNECT_SLACK = 1.0

# The policy of a request that matched no service.
NO_SERVICE_POLICY = ServicePolicy()
# The backends a request has already tried: none, at first.
NOTHING_TRIED: frozenset[BackendSpec] = frozenset()

# Bodies smaller than this are copied once to go out with their head in one write; larger
# ones go out as a second buffer of the same writev.
SMALL_BODY: Final = 16 * 1024


class Exchange:
    """One request from a client connection, and its response."""

    __slots__ = (
        "answer",
        "backend",
        "body_in",
        "body_out",
        "brt",
        "bytes_out",
        "capture",
        "client",
        "head",
        "head_sent",
        "held",
        "phase",
        "rbuf",
        "replay",
        "replay_size",
        "req_done",
        "resend_count",
        "resent",
        "resp",
        "reused",
        "sent_at",
        "srt",
        "stale_key",
        "started",
        "status",
        "task",
        "timeout",
        "tried",
        "upstream",
    )

    def __init__(self, client: ClientSide, head: RequestHead, started: float) -> None:
        self.client = client
        self.head = head
        self.started = started  # wall clock, for the access log
        self.srt: ServiceRuntime | None = None  # the matched service's runtime
        self.backend: BackendSpec | None = None
        self.brt: BackendRuntime | None = None  # the backend's pool and counters
        self.tried = NOTHING_TRIED
        self.upstream: UpstreamProtocol | None = None
        self.task: asyncio.Task[None] | None = None
        self.held: list[bytes] | None = None  # validated request bytes waiting for an upstream
        self.timeout = DEFAULT_BACKEND_TIMEOUT  # the chosen backend's TimeOut
        self.head_sent = False
        self.resent = False
        self.reused = False
        self.phase = R_WAIT
        self.resp: ResponseHead | None = None
        self.rbuf = b""
        self.body_out: LengthBody | ChunkedBody | UntilCloseBody | None = None
        self.status = 0
        self.bytes_out = 0
        self.answer = b""  # an answer made here (or its status line), for the access log
        self.replay: list[bytes] | None = None  # request body bytes kept for a resend
        self.replay_size = 0
        self.resend_count = 0
        self.sent_at = 0.0
        self.stale_key: bytes | None = None
        self.capture: Capture | None = None
        body = head.body
        self.body_in: LengthBody | ChunkedBody | None
        if body == BODY_NONE:  # most requests
            self.body_in = None
            self.req_done = True
        elif body == BODY_LENGTH:
            self.body_in = LengthBody(head.content_length)
            self.req_done = head.content_length == 0
        else:
            limit = client.listener.limits.max_body
            self.body_in = ChunkedBody(max_body=limit)
            self.req_done = False

    @property
    def service(self) -> ServiceSpec | None:
        """The service the request matched (None before routing, or when none did)."""
        srt = self.srt
        return None if srt is None else srt.spec

    @property
    def policy(self) -> ServicePolicy:
        srt = self.srt
        return NO_SERVICE_POLICY if srt is None else srt.policy

    def log(self) -> None:
        """The access line of this exchange, as far as it went."""
        resp = self.resp
        body = self.body_out
        # The body bytes: a chunked answer's payload, not its framing (as Pound counts).
        size = body.received if isinstance(body, ChunkedBody) else self.bytes_out
        self.client.log_exchange(
            self.head,
            self.service,
            self.backend,
            self.status,
            self.answer or (b"" if resp is None else resp.raw),
            size,
            self.started,
        )

    # -- start ------------------------------------------------------------------------

    def start(self, rest: bytes, now: float) -> None:
        """Begin with the bytes that followed the head in the same read (``now``: the
        loop's time)."""
        client = self.client
        if rest and self.req_done:
            client.hold_pipelined(rest)
            rest = b""
        head = self.head
        listener = client.listener
        if listener.cert_conditions:
            head.client_cert = client.client_cert
        service = listener.router.route(head, client.peer) if listener.enabled else None
        if service is None:
            # Pound's diagnostic line, which fail2ban filters may look for.
            log.log(NOTICE, "%s", refusal_line(503, client.peer, None, head, NO_SERVICE))
            self.local_response(503, "no service matches")
            return
        srt = self.srt = client.shared.services[id(service)]
        if srt.special:
            if service.metrics:
                self._metrics()
                return
            if service.acme:
                self.task = client.loop.create_task(self._challenge(service.acme))
                return
            stale = srt.stale
            if stale is not None:
                self.stale_key = request_key(
                    head.method, head.target, head.host, head_fields(head.raw), stale.policy
                )
        if self.body_in is not None:
            policy = srt.policy
            if (
                policy.resend_body
                and (head.body == BODY_CHUNKED or head.content_length <= policy.resend_body)
                and policy.may_resend(head.method)
            ):
                self.replay = []  # the body is kept, so the request can be resent
            if rest and not self._take_body(rest):
                return
        self.dispatch(None, now)

    def start_chosen(self, srt: ServiceRuntime, backend: BackendSpec | None, now: float) -> None:
        """Begin a request without a body that the lane routed to ``srt`` and for which it
        drew ``backend`` (None: none can answer), without routing or drawing again (a
        draw among several backends is random: a second one could pick another)."""
        self.srt = srt
        self.dispatch(backend, now)  # None: choose() finds none again, with no draw

    def _can_resend(self) -> bool:
        """Whether the request may go to another backend (or again) after its first
        attempt failed: its method allows it, and its body, if any, was kept whole."""
        srt = self.srt
        if srt is None or not srt.policy.may_resend(self.head.method):
            return False
        return self.body_in is None or self.replay is not None

    def dispatch(self, backend: BackendSpec | None = None, now: float | None = None) -> None:
        """Choose a backend (again, after a failure) and get a connection to it (``now``:
        the loop's time, when the caller has it)."""
        srt = self.srt
        assert srt is not None
        client = self.client
        if backend is None:
            sticky = srt.sticky  # issue 15: a session this worker lacks: ask first
            if sticky is not None and not self.tried and self.task is None:
                key = sticky.key(self.head, client.peer)
                if key is not None and sticky.must_ask(key, client.loop.time()):
                    self.task = client.loop.create_task(self._ask_session(sticky, key))
                    return
            backend = self._choose(srt, self.tried)
            if backend is None:
                if not self._serve_stale():
                    self.backend = None  # none answers: the access log shows none, as Pound
                    log.log(
                        NOTICE, "%s", refusal_line(503, client.peer, None, self.head, NO_BACKEND)
                    )
                    self.local_response(503, "no backend available", retry_after=True)
                return
        self.backend = backend
        kind = backend.kind
        if kind is not BackendKind.PROXY:
            if kind is BackendKind.REDIRECT:
                self._redirect(backend)
            else:
                responders.answer(self, backend)  # Error, Success, SendFile, Control
            return
        if backend.emergency:
            read_only = srt.policy.read_only
            if read_only is not None and self.head.method not in read_only:
                # The emergency copy is read-only: a write there would be lost when the
                # primary returns. Ask the client to come back instead.
                self.local_response(
                    503, "read-only while on the emergency backend", retry_after=True
                )
                return
        self.timeout = backend.timeout
        brt = self.brt = client.shared.backends[id(backend)]
        pool = brt.pool
        assert pool is not None  # a proxied backend
        if now is None:
            now = client.loop.time()
        conn = pool.acquire(now)
        if conn is not None:
            conn.reused = True
            self.attach(conn, now)
            return
        self._start_connect(backend, pool)

    async def _ask_session(self, sticky: Sticky, key: bytes) -> None:
        """Bring the owner's record of ``key`` here (bounded wait), then choose."""
        await sticky.ask(key)
        self.task = None
        client = self.client
        if client.closed:
            return
        srt = self.srt
        assert srt is not None
        backend = sticky.choose_for(key, client.loop.time())
        if backend is None:
            if not self._serve_stale():
                self.local_response(503, "no backend available", retry_after=True)
            return
        self.dispatch(backend)

    def _choose(self, srt: ServiceRuntime, tried: Set[BackendSpec]) -> BackendSpec | None:
        """A backend for the next attempt: the session's (issue 15), else the balancer's."""
        sticky = srt.sticky
        if sticky is None:
            return srt.balancer.choose(tried)
        client = self.client
        return sticky.choose(self.head, client.peer, client.loop.time(), tried)

    def _start_connect(self, backend: BackendSpec, pool: Pool) -> None:
        client = self.client
        client.pause_reading_for(PAUSE_CONNECT)
        # The connect attempt times out first (ConnTO) and then selection runs again.
        client.deadline = client.loop.time() + backend.conn_timeout + CONNECT_SLACK
        self.task = client.loop.create_task(self._connect(backend, pool))

    async def _connect(self, backend: BackendSpec, pool: Pool) -> None:
        try:
            _, proto = await pool.connect(UpstreamProtocol, backend.conn_timeout)
        except ConnectFailed as exc:
            self.task = None
            if self.client.closed:
                return
            if not exc.local:
                # Dead at once for every request (the board's subscribers log it, once).
                self.client.shared.board.mark_dead(backend, exc.reason)
            else:
                log.error("cannot connect to %s: %s", backend.describe(), exc.reason)
            # No byte of the request has left: safe to send it elsewhere, whatever the method.
            tried = self.tried = self.tried | {backend}
            srt = self.srt
            following = None if srt is None else self._choose(srt, tried)
            if following is not None:
                self._count_failover()
            self.dispatch(following)  # None: no backend is left (stale copy, or 503)
            return
        self.task = None
        if self.client.closed:
            proto.close()
            return
        self.attach(proto, self.client.loop.time())

    def attach(self, conn: UpstreamProtocol, now: float) -> None:
        """Send the request on ``conn`` (``now``: the loop's time)."""
        client = self.client
        if client.paused:
            client.resume_reading_for(PAUSE_CONNECT)
        brt = self.brt
        assert brt is not None
        counters = brt.counters
        counters.in_flight += 1
        counters.requests += 1
        if self.resend_count:
            counters.resends += 1
        self.upstream = conn
        self.reused = conn.reused
        conn.user = self
        if client.write_paused:
            conn.transport.pause_reading()
        self.sent_at = now
        client.deadline = now + self.timeout
        head = self.head
        # A chunked request waits for its first validated chunk line, so that a bad one
        # reaches no backend; unless the client waits for 100-continue before sending it.
        if head.body == BODY_CHUNKED and not self.held and not head.expect_continue:
            return
        self._send_head(conn)

    def _send_head(self, conn: UpstreamProtocol) -> None:
        """Send the request head (and the body bytes held for it) on ``conn``."""
        listener = self.client.listener
        if listener.edits or not listener.lane:
            try:
                data = self._edited_request()  # issue 15
            except ExpansionFailed as exc:
                self._expansion_failed(exc.messages)
                return
        else:
            data = forward_head(self.head, self.client.forwarding)
        self.head_sent = True
        held = self.held
        if held:
            conn.transport.writelines([data, *held])
            self.held = None
        else:
            conn.transport.write(data)

    def _edited_request(self) -> bytes:
        """The upstream head with the listener's modification settings and the edits of
        the listener and the service (issue 15, http1/edit.py)."""
        listener = self.client.listener
        spec = listener.spec
        head = self.head
        if spec.header_options != DEFAULT_HEADER_OPTIONS:
            data = forward_head_options(head, self.client.forwarding, spec.header_options)
        else:
            data = forward_head(head, self.client.forwarding)
        backend = self.backend
        if spec.rewrite_destination and backend is not None and not backend.unix:
            where = backend.describe().encode("latin-1")
            data = rewrite_destination(data, where, backend.tls is not None)
        srt = self.srt
        service = None if srt is None else srt.request_edits
        return edit_request(data, head, listener.request_edits, service, self.client.peer)

    def _edited_response(self, resp: ResponseHead) -> bytes | None:
        """The backend's head after RewriteLocation and the response edits (issue 15);
        None when it stays as received."""
        client = self.client
        listener = client.listener
        srt = self.srt
        raw = resp.raw
        mode = listener.spec.rewrite_location
        backend = self.backend
        host = self.head.host
        spans = resp._locations
        if mode and spans is not None and backend is not None and not backend.unix and host:
            rule = LocationRule(
                mode,
                listener.proto,
                listener.spec.address,
                listener.spec.port,
                backend.address,
                backend.port,
            )
            raw = rewrite_locations(raw, spans, rule, host) or raw
        service_edits = None if srt is None else srt.response_edits
        if service_edits is not None or listener.response_edits is not None:
            raw = edit_response(raw, self.head, service_edits, listener.response_edits, client.peer)
        return None if raw is resp.raw else raw

    def _rewrites_error(self, status: int) -> bool:
        """`RewriteErrors`: this backend status gets the listener's ErrorFile page."""
        srt = self.srt
        spec = self.client.listener.spec
        wanted = None if srt is None else srt.spec.rewrite_errors
        if wanted is None:
            wanted = spec.rewrite_errors
        return wanted and status >= 400 and spec.error_page(status) is not None

    def _detach(self) -> UpstreamProtocol | None:
        """Forget the upstream connection (the caller decides its fate)."""
        conn = self.upstream
        if conn is not None:
            # attach() counted it in flight on this backend; brt changes only after this.
            self.upstream = None
            brt = self.brt
            assert brt is not None
            brt.counters.in_flight -= 1
            conn.user = None
        return conn

    def _resend_elsewhere(self) -> bool:
        """After a failure before any response byte reached the client: send the request
        to the next backend (then the Emergency tier) if that is safe and one is left.
        Each backend is tried at most once. False: the caller answers the client."""
        backend = self.backend
        srt = self.srt
        if backend is None or srt is None or not self._can_resend():
            return False
        tried = self.tried | {backend}
        following = self._choose(srt, tried)
        if following is None:
            return False
        self.tried = tried
        self._count_failover()
        conn = self._detach()
        if conn is not None:
            conn.abort()  # its answer is unread: never reuse it
        log.info(
            "%s %s: resent from %s to %s",
            self.head.method.decode("latin-1"),
            self.head.target[:200].decode("latin-1"),
            backend.describe(),
            following.describe(),
        )
        self.rbuf = b""
        self.resp = None
        self.head_sent = False
        self.held = list(self.replay) if self.replay else None
        self.client.resume_reading_for(PAUSE_UPSTREAM)
        self.dispatch(following)
        return True

    def _count_failover(self) -> None:
        """The request leaves the current backend for another after a failure: a failover
        for this one, and (in attach) a resend for the next."""
        if self.brt is not None:
            self.brt.counters.failovers += 1
        self.resend_count += 1

    def _observe_failure(self, reason: str, *, http_level: bool) -> None:
        backend = self.backend
        if backend is not None and self.policy.passive:
            self.client.shared.board.observe_failure(backend, reason, http_level=http_level)

    # -- request body -------------------------------------------------------------------

    def client_data(self, data: bytes) -> None:
        """Bytes from the client while this exchange is current."""
        if self.phase == R_TUNNEL:
            conn = self.upstream
            if conn is not None:
                conn.transport.write(data)
                self.client.deadline = self.client.loop.time() + self._ws_timeout()
            return
        if self.req_done:
            self.client.hold_pipelined(data)
            return
        self._take_body(data)

    def _take_body(self, data: bytes) -> bool:
        body = self.body_in
        assert body is not None
        try:
            fwd, extra = body.feed(data)
        except HttpError as exc:
            self.request_error(exc)
            return False
        client = self.client
        client.deadline = client.loop.time() + client.listener.spec.client_timeout
        if fwd:
            replay = self.replay
            if replay is not None:
                replay.append(fwd)
                self.replay_size += len(fwd)
                if self.replay_size > self.policy.resend_body:
                    # Too large to keep: this request cannot be resent after it left.
                    self.replay = None
            conn = self.upstream
            if conn is None or not self.head_sent:
                if self.held is None:
                    self.held = [fwd]
                else:
                    self.held.append(fwd)
                if conn is not None:
                    self._send_head(conn)
            else:
                conn.transport.write(fwd)
        if body.done:
            self.req_done = True
            if self.upstream is not None:
                client.deadline = client.loop.time() + self.timeout
            if extra:
                client.hold_pipelined(extra)
            backend = self.backend
            if backend is not None and backend.kind is BackendKind.CONTROL and self.phase == R_WAIT:
                responders.control(self)  # it waited for the whole body
        return True

    def request_error(self, exc: HttpError) -> None:
        """Bad framing inside the request body: the backend connection that carried a part
        of it is closed, never reused, so nothing after the error reads as a request."""
        self._drop_upstream(abort=True)
        self._cancel_task()
        if self.phase == R_WAIT:
            self.client.reject(exc.status, exc.reason, self.head)
        else:
            # The answer is on its way: it is cut, and logged as far as it went.
            client = self.client
            where = self._backend_name()
            log.log(
                NOTICE, "%s", refusal_line(exc.status, client.peer, where, self.head, exc.reason)
            )
            self.phase = R_DONE
            client.abort()
            self.log()

    # -- response -----------------------------------------------------------------------

    def upstream_data(self, data: bytes) -> None:
        client = self.client
        now = client.loop.time()
        client.deadline = now + self.timeout
        phase = self.phase
        if phase == R_WAIT:
            rbuf = self.rbuf
            if rbuf:  # the start of a head came in an earlier read
                self.rbuf = b""
                data = rbuf + data
            self._response_head(data, now)
            return
        if phase == R_BODY:
            body = self.body_out
            assert body is not None
            try:
                fwd, extra = body.feed(data)
            except HttpError as exc:
                self._response_broken(exc.reason)
                return
            if fwd:
                self.bytes_out += len(fwd)
                if self.capture is not None:
                    self.capture.feed(fwd)
                client.transport_write(fwd)
            if body.done:
                self._response_done(now, not extra)
            return
        if phase == R_TUNNEL:
            client.transport_write(data)
            client.deadline = now + self._ws_timeout()

    def _response_head(self, buf: bytes, now: float) -> None:
        """Response bytes before any reached the client (``now``: the loop's time)."""
        client = self.client
        head = self.head
        while True:
            try:
                parsed = parse_response_head(buf, head.method)
            except HttpError as exc:
                self._bad_gateway(f"bad response: {exc.reason}")
                return
            if parsed is None:
                self.rbuf = buf
                return
            resp, used = parsed  # the head is buf[:used]; what follows starts the body
            status = resp.status
            if status >= 200:
                break
            buf = buf[used:]
            if status == 101 and head.upgrade is not None:
                self._tunnel(resp, buf)
                return
            # Other 1xx (100 Continue, 103 Early Hints): pass on to HTTP/1.1 clients only.
            if head.http11:
                client.transport_write(resp.raw)
        srt = self.srt
        brt = self.brt
        assert srt is not None and brt is not None  # attach() came first
        # Every answer counts for the backend that gave it, a failover status too.
        counters = brt.counters
        counters.by_status[status] += 1
        counters.latency.observe(now - self.sent_at)
        sticky = srt.sticky
        if sticky is not None and sticky.learns:
            sticky.learn(resp, brt.spec, now)  # issue 15: a Set-Cookie may make a session
        policy = srt.policy
        if status in policy.failover_statuses:
            self._observe_failure(f"answered {status}", http_level=True)
            if self._resend_elsewhere():
                return
            if self.stale_key is not None and self._serve_stale():
                return
            # No other backend could take it: the client gets this answer as it is.
        elif policy.passive:
            client.shared.board.observe_success(self.backend)  # type: ignore[arg-type]
        if (
            resp._locations is not None
            or client.listener.response_edits is not None
            or srt.response_edits is not None
        ):
            try:
                edited = self._edited_response(resp)  # issue 15
            except ExpansionFailed as exc:
                self._expansion_failed(exc.messages)
                return
            if edited is not None:
                buf = edited + buf[used:]
                reparsed = parse_response_head_python(buf, head.method, len(edited))
                assert reparsed is not None  # edits keep a head valid (http1/edit.py)
                resp, used = reparsed
        if (srt.special or not client.listener.lane) and self._rewrites_error(status):
            conn = self._detach()  # its body is not wanted: the connection is not reused
            if conn is not None:
                conn.close()
            self.local_response(status, "backend error page rewritten (RewriteErrors)", edit=True)
            return
        self.resp = resp
        self.status = status
        kind = resp.body
        self.phase = R_BODY
        if self.stale_key is not None and srt.stale is not None:
            self.capture = srt.stale.begin(self.stale_key, status, resp.raw, method=head.method)
        if kind == BODY_CHUNKED and not head.http11:
            self._dechunked_response(resp, buf[used:], now)
            return
        keep = self._keep_client(kind != BODY_UNTIL_CLOSE)
        out = client_response_head(resp, keep, head.http11)
        if kind == BODY_LENGTH:
            length = resp.content_length
            end = used + length
            size = len(buf)
            if size >= end:
                # The whole body is here (the common case for small pages): one write.
                self.bytes_out = length
                if self.capture is not None:
                    self.capture.feed(buf[used:end])
                if size == end and out is resp.raw:
                    # The head goes out unchanged (client_response_head returned it as
                    # received) and nothing follows the body: the client gets the very
                    # bytes the backend sent, without a copy.
                    client.transport_write(buf)
                elif length >= SMALL_BODY:
                    client.transport_writelines(out, buf[used:end])
                else:
                    client.transport_write(out + buf[used:end])
                self._response_done(now, size == end)
                return
            body: LengthBody | ChunkedBody | UntilCloseBody = LengthBody(length)
        elif kind == BODY_NONE:
            self.body_out = None
            client.transport_write(out)
            self._response_done(now, len(buf) == used)
            return
        elif kind == BODY_CHUNKED:
            body = ChunkedBody(error_status=502)
        else:
            body = UntilCloseBody()
        self.body_out = body
        fwd = b""
        extra = b""
        if len(buf) > used:
            try:
                fwd, extra = body.feed(buf[used:])
            except HttpError as exc:
                client.transport_write(out)
                self._response_broken(exc.reason)
                return
        if fwd:
            self.bytes_out += len(fwd)
            if self.capture is not None:
                self.capture.feed(fwd)
            client.transport_writelines(out, fwd)
        else:
            client.transport_write(out)
        if body.done:
            self._response_done(now, not extra)

    def _dechunked_response(
        self,
        resp: ResponseHead,
        data: bytes,
        now: float,
    ) -> None:
        """A chunked answer for an HTTP/1.0 client, which cannot read chunked framing
        (RFC 9112 7.1): it gets the payload alone. When the whole body is in ``data`` (the
        bytes after the head), with a Content-Length, and the connection stays as for any
        answer; else streamed, the body ending with the connection."""
        client = self.client
        body = DechunkedBody(error_status=502)
        capture = self.capture
        if capture is not None:
            capture.decoded()
        try:
            payload, extra = body.feed(data)
        except HttpError as exc:
            head = client_response_head(resp, self._keep_client(False), False)
            client.transport_write(dechunked_head(head, None))
            self._response_broken(exc.reason)
            return
        self.bytes_out = len(payload)
        if capture is not None and payload:
            capture.feed(payload)
        if body.done:
            head = client_response_head(resp, self._keep_client(), False)
            out = dechunked_head(head, len(payload))
            if len(payload) >= SMALL_BODY:
                client.transport_writelines(out, payload)
            else:
                client.transport_write(out + payload)
            self._response_done(now, not extra)
            return
        head = client_response_head(resp, self._keep_client(False), False)
        self.body_out = body
        out = dechunked_head(head, None)
        if payload:
            client.transport_writelines(out, payload)
        else:
            client.transport_write(out)

    def _tunnel(self, resp: ResponseHead, rest: bytes) -> None:
        """101 Switching Protocols: from now on bytes flow unparsed both ways."""
        client = self.client
        self.phase = R_TUNNEL
        self.status = 101
        self.resp = resp
        client.keep_alive = False
        client.transport_write(resp.raw)
        if rest:
            client.transport_write(rest)
        client.deadline = client.loop.time() + self._ws_timeout()
        client.enter_tunnel()

    def _response_done(self, now: float, clean: bool) -> None:
        """The response ended (its framing says so). Reuse what can be reused (``now``:
        the loop's time)."""
        self.phase = R_DONE
        capture = self.capture
        if capture is not None:
            self.capture = None
            capture.finish()
        client = self.client
        conn = self._detach()
        if conn is not None:
            resp = self.resp
            brt = self.brt
            if (
                clean
                and self.req_done
                and resp is not None
                and resp.keep_alive
                and brt is not None
                and brt.pool is not None
            ):
                if client.write_paused:
                    conn.transport.resume_reading()
                brt.pool.release(conn, now)  # a closed one is not kept
            else:
                conn.close()
        client.exchange_done(self)

    def upstream_eof(self) -> None:
        """Half-close from the backend; connection_lost follows and decides."""

    def upstream_lost(self, exc: Exception | None) -> None:
        self._detach()
        phase = self.phase
        if phase == R_WAIT:
            if self.reused and not self.resent and not self.rbuf and self._can_resend():
                # A pooled connection the backend may have closed while it was idle: try a
                # fresh one to the same backend first; this is no sign of a sick backend.
                self.resent = True
                self.head_sent = False
                self.held = list(self.replay) if self.replay else None
                self._reconnect()
                return
            self._observe_failure("connection lost before the response", http_level=False)
            if self._resend_elsewhere():
                return
            self._bad_gateway("backend closed the connection before answering")
        elif phase == R_BODY:
            body = self.body_out
            if isinstance(body, UntilCloseBody) and exc is None:
                body.finish()
                self._response_done(self.client.loop.time(), False)
            else:
                self._response_broken("backend broke off the response")
        elif phase == R_TUNNEL:
            self.phase = R_DONE
            self.client.exchange_done(self)

    def _reconnect(self) -> None:
        backend = self.backend
        brt = self.brt
        assert backend is not None and brt is not None and brt.pool is not None
        self._start_connect(backend, brt.pool)

    def upstream_pause_writing(self) -> None:
        self.client.pause_reading_for(PAUSE_UPSTREAM)

    def upstream_resume_writing(self) -> None:
        self.client.resume_reading_for(PAUSE_UPSTREAM)

    # -- endings ------------------------------------------------------------------------

    def on_deadline(self) -> None:
        """The client connection's deadline passed while this exchange was current."""
        if self.phase == R_TUNNEL:
            # An idle tunnel (WSTimeOut) ends quietly: both sides get a FIN.
            self._drop_upstream(abort=False)
            self.phase = R_DONE
            self.client.keep_alive = False
            self.client.exchange_done(self)
            return
        if self.phase == R_WAIT:
            if not self.req_done and not self.client.upstream_full:
                # The client stopped sending its body.
                self._drop_upstream(abort=True)
                self._cancel_task()
                self.client.reject(408, "request body timed out", self.head)
                return
            if self.upstream is not None:
                self._observe_failure(f"no response within {self.timeout:g}s", http_level=False)
                if self._resend_elsewhere():
                    return
            self._drop_upstream(abort=True)
            self._cancel_task()
            if self._serve_stale():
                return
            self.status = 504
            self.local_response(504, "backend did not answer in time", keep=False)
            return
        # Mid-response: the client sees a truncated message, never a completed one.
        self._response_broken("response timed out")

    def _bad_gateway(self, reason: str) -> None:
        log.info("502 for %s: %s", self._backend_name(), reason)
        self._drop_upstream(abort=True)
        if not self._serve_stale():
            self.local_response(502, reason, keep=False)

    def _serve_stale(self) -> bool:
        """No backend can answer: serve the last good copy of this page, if one is kept
        (StaleFallback), so readers and crawlers still get it. False when there is none."""
        key = self.stale_key
        stale = None if self.srt is None else self.srt.stale
        if key is None or stale is None:
            return False
        entry = stale.lookup(key)
        if entry is None:
            return False
        self._drop_upstream(abort=True)  # e.g. a failover status answer, left unread
        keep = self._keep_client()
        data = stale.render(
            entry,
            time.time(),
            self.head.method == b"HEAD",
            keep_alive=keep,
            client_http11=self.head.http11,
        )
        self._answered(entry.status, data, _body_size(data))
        return True

    def _response_broken(self, reason: str) -> None:
        log.info("response from %s cut: %s", self._backend_name(), reason)
        if self.capture is not None:
            self.capture.abort()
            self.capture = None
        self._drop_upstream(abort=True)
        self.phase = R_DONE
        self.client.abort()
        self.log()

    def _backend_name(self) -> str:
        return self.backend.describe() if self.backend is not None else "-"

    def local_response(
        self,
        status: int,
        reason: str,
        *,
        retry_after: bool = False,
        keep: bool = True,
        edit: bool = False,
    ) -> None:
        """A response made by the proxy itself (no backend, timeouts, gateway errors);
        ``edit``: the response edits apply to it (a page put in place by RewriteErrors)."""
        page, headers = responders.listener_page(self.client.listener.spec, status)
        extra: tuple[tuple[bytes, bytes], ...] = ()
        if retry_after:
            extra = ((b"Retry-After", self.policy.retry_after),)
        keep = self._keep_client(keep)
        data = responders.page_response(status, page, headers, close=not keep, extra=extra)
        if edit:
            answered = responders.edited(self, data)
            if answered is None:
                return  # an edit could not be expanded: the 500 is sent
            data = answered
        data = self._for_method(data)
        self._answered(status, data, _body_size(data))

    def _redirect(self, backend: BackendSpec) -> None:
        # Pound edits the request first: the URL's accessors and the appended target read
        # the request as edited (an edit that cannot be expanded answers 500).
        edited = self.made_request_head()
        if edited is None:
            return
        request = self.head if edited is self.head.raw else Head(edited)
        url = backend.redirect_url
        # Pound: a URL whose path is a single "/" loses it and gets nothing appended;
        # one without a path gets the request's target appended (unless it expands).
        scheme_end = url.find("://")
        slash = url.find("/", scheme_end + 3) if scheme_end >= 0 else -1
        if slash >= 0 and slash == len(url) - 1:
            url = url[:slash]
        if not is_literal(url):
            # Pound: $N and %[...] are expanded (the captures of the service's conditions,
            # which held), and the request's path is then not appended.
            srt = self.srt
            conditions = () if srt is None else srt.spec.conditions
            captures = match_conditions(conditions, self.head, self.client.peer)
            errors: list[str] = []
            target = expand(url, captures, request, self.client.peer, errors)
            if errors:  # Pound: each is logged, and the client gets a 500
                self._expansion_failed(expansion_messages("Redirect expression", url, errors))
                return
            if not has_expansions(url) and slash < 0:
                target += request.target
        else:
            target = url.encode("latin-1")
            if slash < 0:
                target += request.target
        keep = self._keep_client()
        response = redirect_response(backend.redirect_code, target, close=not keep)
        self.answer = redirect_line(backend.redirect_code)  # as Pound logs a redirect
        self._answered(backend.redirect_code, self._for_method(response), 0)

    def made_request_head(self) -> bytes | None:
        """The request head after the listener's and the service's edits, for an answer
        made here (Pound edits the request before any backend answers: SendFile sends the
        edited path's file); None when an expansion failed (the 500 is sent)."""
        listener = self.client.listener
        srt = self.srt
        service = None if srt is None else srt.request_edits
        head = self.head
        if listener.request_edits is None and service is None:
            return head.raw
        try:
            return edit_request(head.raw, head, listener.request_edits, service, self.client.peer)
        except ExpansionFailed as exc:
            self._expansion_failed(exc.messages)
            return None

    def made_response_head(self, raw: bytes, request: bytes) -> bytes | None:
        """``raw``, the head of an answer made here, after the service's and the
        listener's response edits (``Rewrite response``), whose accessors read
        ``request`` (the request head as edited: Pound's); None when an expansion failed
        (the 500 is sent)."""
        listener = self.client.listener
        srt = self.srt
        service = None if srt is None else srt.response_edits
        if listener.response_edits is None and service is None:
            return raw
        view = self.head if request is self.head.raw else Head(request)
        try:
            return edit_response(raw, view, service, listener.response_edits, self.client.peer)
        except ExpansionFailed as exc:
            self._expansion_failed(exc.messages)
            return None

    def _expansion_failed(self, messages: list[str]) -> None:
        """An edit's or a Redirect's template could not be expanded: Pound logs why and
        answers 500 (an upstream connection taken for the request is not used)."""
        for message in messages:
            log.warning("%s", message)
        conn = self._detach()
        if conn is not None:
            conn.close()
        self.local_response(500, "expansion failed")

    async def _challenge(self, directories: tuple[str, ...]) -> None:
        """An ACME HTTP-01 challenge (``ACME "DIR"``, acme/responder.py)."""
        status, body = await answer_challenge(directories, self.head.method, self.head.target)
        self.task = None
        if self.client.closed:
            return
        if status == 405:
            keep = self._keep_client()
            self._answered(405, error_response(405, close=not keep, extra=(ALLOW,)), 0)
        elif status != 200:
            self.local_response(status, "ACME challenge")
        else:
            self._answered(
                200, self._for_method(challenge_ok(body, self._keep_client())), len(body)
            )

    def _metrics(self) -> None:
        """A `Metrics` service: the figures in OpenMetrics text; with several workers the
        whole service's, from the supervisor (503 if it cannot answer: this worker's own
        figures would read as a counter reset)."""
        source = self.client.shared.metrics_source
        if source is None:
            self._send_metrics(self._local_metrics())
            return
        self.task = self.client.loop.create_task(self._metrics_from(source))

    async def _metrics_from(self, source: MetricsSource) -> None:
        text = await source()
        self.task = None
        if self.client.closed:
            return
        if text is None:
            self.local_response(503, "no metrics from the supervisor")
            return
        self._send_metrics(text)

    def _local_metrics(self) -> str:
        view = self.client.shared.view
        assert view is not None
        return render_openmetrics(metrics_snapshot(view, time.time()))

    def _send_metrics(self, text: str) -> None:
        body = text.encode("utf-8")
        keep = self._keep_client()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            CONTENT_TYPE.encode("ascii"),
            len(body),
            b"" if keep else b"Connection: close\r\n",
        )
        # (The access log shows no body size for it, as Pound's does.)
        answered = responders.edited(self, head + body)
        if answered is not None:
            self._answered(200, self._for_method(answered), 0)

    def _keep_client(self, wanted: bool = True) -> bool:
        """Decide (and record on the client) whether its connection stays open after this
        answer: the client wants it, its request was read whole, and we are not stopping."""
        client = self.client
        keep = wanted and client.keep_alive and self.req_done and not client.shared.stopping
        client.keep_alive = keep
        return keep

    def _answered(self, status: int, data: bytes, bytes_out: int) -> None:
        """Send an answer made here in full and end the exchange."""
        self.status = status
        self.bytes_out = bytes_out
        if not self.answer:
            self.answer = data
        self.phase = R_DONE
        self.client.transport_write(data)
        self.client.exchange_done(self)

    def _for_method(self, response: bytes) -> bytes:
        """A response we made, as the request's method wants it: a HEAD gets the head only
        (with the Content-Length the body would have had, RFC 9110 9.3.2)."""
        if self.head.method == b"HEAD":
            return response[: response.index(b"\r\n\r\n") + 4]
        return response

    def _ws_timeout(self) -> float:
        backend = self.backend
        return backend.ws_timeout if backend is not None else 600.0

    def _cancel_task(self) -> None:
        task = self.task
        if task is not None:
            self.task = None
            task.cancel()

    def _drop_upstream(self, *, abort: bool) -> None:
        conn = self._detach()
        if conn is not None:
            if abort:
                conn.abort()
            else:
                conn.close()

    def close(self) -> None:
        """The client connection is gone: release everything this exchange holds."""
        if self.capture is not None:
            self.capture.abort()
            self.capture = None
        self._cancel_task()
        self._drop_upstream(abort=self.phase != R_DONE)


def _body_size(response: bytes) -> int:
    """The body bytes of a whole response made here (what the access log counts)."""
    end = response.find(b"\r\n\r\n")
    return 0 if end < 0 else len(response) - end - 4
