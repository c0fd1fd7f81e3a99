"""The fast lane: the common keep-alive exchange in one call each way.

Most requests a busy site gets have the same shape: no body, a service with nothing special
(no Metrics, no stale copies), a healthy regular backend with an idle pooled connection, and
a final response that arrives whole in one read (framed by Content-Length, or chunked as
dynamic pages usually are, for an HTTP/1.1 client, or with no body) and needs no failover
or Location rewrite. The general `Exchange` handles that shape through about a dozen
methods, each a Python call; the lane handles it in two: `start` (route, choose, send the
head on a pooled connection) and `upstream_data` (relay the answer, release the connection,
ready the client for its next request).

At the first sign of anything else the lane hands the request over to an `Exchange` at the
point reached (`_promote`), and the Exchange decides everything from there, so the lane
holds no decision of its own beyond "this is the common shape". Where it does what the
Exchange does (counters, keep-alive, which bytes go out, the connection's fate), the
differential tests (tests/server/test_lane.py) run the same traffic with the lane on and off
and compare the results, and CI runs the proxying tests both ways.

``STANDBY_LANE=0`` in the environment turns the lane off (for those tests, and as a way out
should it ever be suspected in the field).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from standby.http1 import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    HttpError,
    RequestHead,
    chunked_end,
    client_response_head,
    forward_head,
    parse_response_head,
)
from standby.http1.edit import edit_request
from standby.model import DEFAULT_HEADER_OPTIONS, ListenerSpec
from standby.observe.access import chunked_payload
from standby.server.exchange import SMALL_BODY, Exchange
from standby.server.seam import PAUSE_UPSTREAM, ClientSide

if TYPE_CHECKING:
    from standby.server.shared import BackendRuntime, ServiceRuntime
    from standby.upstream.protocol import UpstreamProtocol


# What runs on every request, bound to Final names: compiled (standby/compiled.py), a Final
# module attribute is a C static, while an imported name is a lookup in the module's dict
# at each use.
_forward_head: Final = forward_head
_parse_response_head: Final = parse_response_head
_chunked_end: Final = chunked_end
_chunked_payload: Final = chunked_payload
_client_response_head: Final = client_response_head
_edit_request: Final = edit_request

# How a chunked body ends when it has no trailer: a read that ends otherwise is not tried.
LAST_CHUNK: Final = b"0\r\n\r\n"


def lane_wanted() -> bool:
    """Whether the lane is on: unless ``STANDBY_LANE=0``."""
    return os.environ.get("STANDBY_LANE", "1") != "0"


def edits_lane(spec: ListenerSpec) -> bool:
    """Whether a listener's modification settings leave the lane open to its requests
    (issue 15): request edits the lane applies; response edits, `RewriteDestination`,
    `RewriteErrors` and a `HeaderOption` other than Pound's default are the Exchange's."""
    return (
        not spec.response_edits
        and not spec.combine_headers  # responses are joined too
        and not spec.rewrite_destination
        and not spec.rewrite_errors
        and spec.header_options == DEFAULT_HEADER_OPTIONS
    )


class Lane:
    """A client connection's fast lane (one per connection, made at its first request and
    reused for each request that takes it)."""

    __slots__ = ("brt", "client", "conn", "head", "srt", "started")

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.head: RequestHead | None = None
        self.conn: UpstreamProtocol | None = None  # set while a request is in the lane
        self.srt: ServiceRuntime | None = None
        self.brt: BackendRuntime | None = None
        self.started = 0.0  # the loop's time when the request was sent

    # -- the request --------------------------------------------------------------------

    def start(self, head: RequestHead, rest: bytes, now: float) -> None:
        """A request without a body (``rest``: bytes that followed its head; ``now``: the
        loop's time). The client is in S_LANE; a handover moves it to S_EXCHANGE."""
        client = self.client
        if rest:
            client.hold_pipelined(rest)
        listener = client.listener
        service = listener.router.route(head, client.peer) if listener.enabled else None
        if service is not None:
            shared = client.shared
            srt = shared.services[id(service)]
            if not srt.special:
                sticky = srt.sticky  # issue 15: a `Session` chooses (and learns) first
                if sticky is None:
                    backend = srt.balancer.choose()
                else:
                    key = sticky.key(head, client.peer)
                    if key is None:
                        backend = srt.balancer.choose()
                    elif sticky.must_ask(key, now):
                        self._hand_over(head, now).start(b"", now)  # it asks the owner
                        return
                    else:
                        backend = sticky.choose_for(key, now)
                if backend is None:
                    self._hand_over(head, now).start_chosen(srt, None, now)
                    return
                brt = shared.backends[id(backend)]
                pool = brt.pool
                # Emergency backends (read-only rules) and Redirects take the general path.
                conn = None if pool is None or backend.emergency else pool.acquire(now)
                if conn is None:
                    # The balancer's draw is made: the Exchange goes on with its choice.
                    self._hand_over(head, now).start_chosen(srt, backend, now)
                    return
                counters = brt.counters
                counters.in_flight += 1
                counters.requests += 1
                conn.user = self
                self.conn = conn
                self.head = head
                self.srt = srt
                self.brt = brt
                self.started = now
                if client.write_paused:
                    conn.transport.pause_reading()
                client.deadline = now + backend.timeout
                data = _forward_head(head, client.forwarding)
                if listener.edits:  # issue 15: the listener's edits, then the service's
                    data = _edit_request(
                        data, head, listener.request_edits, srt.request_edits, client.peer
                    )
                conn.transport.write(data)
                return
        # No service (the Exchange answers 503), or a special one: routing again is cheap
        # and has no side effect.
        self._hand_over(head, now).start(b"", now)

    def _hand_over(self, head: RequestHead, now: float) -> Exchange:
        """The request leaves the lane before it was sent: an Exchange takes it."""
        client = self.client
        exchange = Exchange(client, head, now)
        client.adopt(exchange)
        return exchange

    def _promote(self) -> Exchange:
        """The request was sent from the lane and something uncommon happened: an Exchange
        takes it over exactly where the lane stands (what attach() would have set)."""
        client = self.client
        head = self.head
        srt = self.srt
        brt = self.brt
        conn = self.conn
        assert head is not None and srt is not None and brt is not None and conn is not None
        self.conn = None
        self.head = None  # the Exchange has it now; the lane keeps no request
        exchange = Exchange(client, head, self.started)
        exchange.srt = srt
        exchange.brt = brt
        backend = exchange.backend = brt.spec
        exchange.timeout = backend.timeout
        exchange.upstream = conn
        exchange.reused = True
        exchange.head_sent = True
        exchange.sent_at = self.started
        conn.user = exchange
        client.adopt(exchange)
        return exchange

    # -- the response (UpstreamUser) ----------------------------------------------------

    def upstream_data(self, data: bytes) -> None:
        head = self.head
        srt = self.srt
        assert head is not None and srt is not None
        try:
            parsed = _parse_response_head(data, head.method)
        except HttpError:
            parsed = None  # the Exchange says why, and answers 502
        if parsed is not None:
            resp, used = parsed
            status = resp.status
            kind = resp.body
            client = self.client
            # Where the body ends, when it ends in this read (-1: it does not, or it is
            # not ours to judge).
            if kind == BODY_LENGTH:
                end = used + resp.content_length
            elif kind == BODY_NONE:
                end = used
            elif kind == BODY_CHUNKED and data.endswith(LAST_CHUNK) and head.http11:
                # (An HTTP/1.0 client gets the body decoded: the Exchange does that.)
                end = _chunked_end(data, used)
            else:
                end = -1
            size = len(data)
            length = end - used  # the body bytes the client gets
            if (
                0 <= end <= size
                and status >= 200
                and status not in srt.policy.failover_statuses
                and (resp._locations is None or not client.listener.spec.rewrite_location)
            ):
                # A final answer here whole: what Exchange._response_head, _response_done
                # and the client's exchange_done do for it, in one place.
                now = client.loop.time()
                brt = self.brt
                assert brt is not None
                counters = brt.counters
                counters.by_status[status] += 1
                counters.latency.observe(now - self.started)
                sticky = srt.sticky
                if sticky is not None and sticky.learns:
                    sticky.learn(resp, brt.spec, now)  # a Set-Cookie may make a session
                shared = client.shared
                if srt.policy.passive:
                    board = shared.board
                    if board.failure_runs:  # else observe_success has nothing to do
                        board.observe_success(brt.spec)
                # Exchange._keep_client(): the request was read whole (it has no body).
                keep = client.keep_alive and not shared.stopping
                client.keep_alive = keep
                out = _client_response_head(resp, keep, head.http11, None)
                if kind == BODY_NONE:
                    client.transport_write(out)  # whatever follows the head is not ours
                elif size == end and out is resp.raw:
                    client.transport_write(data)  # the backend's very bytes, no copy
                elif length >= SMALL_BODY:
                    client.transport_writelines(out, data[used:end])
                else:
                    client.transport_write(out + data[used:end])
                conn = self.conn
                assert conn is not None
                self.conn = None
                conn.user = None
                counters.in_flight -= 1
                if size == end and resp.keep_alive:
                    if client.write_paused:
                        conn.transport.resume_reading()
                    pool = brt.pool
                    assert pool is not None
                    pool.release(conn, now)
                else:
                    conn.close()  # out of step, or the backend closes it
                if shared.access_log is not None:
                    if kind == BODY_CHUNKED:  # the log counts the payload, not the framing
                        length = _chunked_payload(data, used, end)
                    client.log_exchange(
                        head, srt.spec, brt.spec, status, resp.raw, length, self.started
                    )
                self.head = None  # an idle connection keeps no request
                client.after_request(True)
                return
        self._promote().upstream_data(data)

    def upstream_eof(self) -> None:
        """Half-close from the backend; connection_lost follows and decides."""

    def upstream_lost(self, exc: Exception | None) -> None:
        self._promote().upstream_lost(exc)

    def upstream_pause_writing(self) -> None:
        self.client.pause_reading_for(PAUSE_UPSTREAM)

    def upstream_resume_writing(self) -> None:
        self.client.resume_reading_for(PAUSE_UPSTREAM)

    # -- from the client ----------------------------------------------------------------

    def on_deadline(self) -> None:
        """The backend did not answer in time: the Exchange decides what follows."""
        self._promote().on_deadline()

    def close(self) -> None:
        """The client connection is gone: the backend's answer would be unread."""
        conn = self.conn
        if conn is not None:
            self.conn = None
            brt = self.brt
            assert brt is not None
            brt.counters.in_flight -= 1
            conn.user = None
            conn.abort()
