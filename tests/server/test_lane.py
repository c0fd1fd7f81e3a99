"""The fast lane (server/lane.py) against the general path: the same traffic through a proxy
with the lane on and one with it off must give the same bytes to the client and to each
backend connection, the same counters, and the same fate for every connection.

The connections are fake transports that record what is written (nothing is sent anywhere):
the test drives both proxies event by event (request bytes, response bytes in one or two
reads, a backend's close, the client's deadline), so that every promotion out of the lane
is exercised at a known point. The real-socket tests of the exchange and the integration
suite run with the lane on, and CI runs them again with it off (STANDBY_LANE=0).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.support.configs import primary_and_emergency

from standby.config import load_config_text
from standby.observe.access import AccessLog, AccessRecord, Formatter
from standby.server.client import S_LANE, ClientProtocol
from standby.server.proxy import Proxy
from standby.server.shared import BackendRuntime
from standby.upstream.protocol import UpstreamProtocol

PEER = ("127.0.0.1", 50_000)
IDLE_STOCK = 2  # idle fake connections kept in each pool: no request ever connects for real
LOOP_TURNS = 5  # loop iterations that let call_soon work (pipelining, connection_lost) run

# The listener's port is never bound: the proxy serves the socket the test gives it.
UNBOUND_PORT = 8080


class Recording(asyncio.Transport):
    """A transport that keeps what is written; closing reports connection_lost later, as
    asyncio does."""

    def __init__(self, protocol: asyncio.Protocol, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._protocol = protocol
        self._loop = loop
        self.out = bytearray()
        self.ended = ""  # "", "close", "abort"
        self.eof = False
        self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.ended, "written after close"
        self.out += data

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return PEER if name == "peername" else default

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return bool(self.ended)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self._end("close")

    def abort(self) -> None:
        self._end("abort")

    def _end(self, how: str) -> None:
        if not self.ended:
            self.ended = how
            self._loop.call_soon(self._protocol.connection_lost, None)


# -- what a run does --------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    interim: bytes  # a 1xx head before the final one, or b""
    status: int
    framing: str  # "length", "chunked", "close" (ends when the backend closes)
    size: int
    connection: bytes  # the backend's Connection header value, or b""
    extra: bytes  # bytes after the body (out of step)
    split: int  # 0: one read; else the bytes of the first read
    deadline_first: bool  # the client's deadline passes before the backend answers
    stopping_first: bool  # a graceful stop begins before the backend answers
    client_full: bool  # the client's write buffer is full while the answer arrives
    set_cookie: bytes = b""  # a `Set-Cookie: sid=...` value (a Session COOKIE learns it)

    def raw(self, location: bytes) -> bytes:
        body = b"b" * self.size
        lines = [b"HTTP/1.1 %d X" % self.status]
        if self.set_cookie:
            lines.append(b"Set-Cookie: sid=" + self.set_cookie + b"; Path=/")
        if self.status == 301:
            lines.append(b"Location: " + location)
        if self.connection:
            lines.append(b"Connection: " + self.connection)
        if self.framing == "length":
            lines.append(b"Content-Length: %d" % self.size)
            payload = body
        elif self.framing == "chunked":
            lines.append(b"Transfer-Encoding: chunked")
            payload = (b"%x\r\n%s\r\n" % (self.size, body) if self.size else b"") + b"0\r\n\r\n"
        else:
            payload = body
        return self.interim + b"\r\n".join(lines) + b"\r\n\r\n" + payload + self.extra


@dataclass(frozen=True)
class Request:
    method: bytes
    version: bytes
    connection: bytes
    pipelined: bool  # sent in the same read as the request before it
    response: Response
    cookie: bytes = b""  # the request's `Cookie: sid=...` value, if any

    def raw(self) -> bytes:
        head = b"%s /p HTTP/%s\r\nHost: example.com\r\n" % (self.method, self.version)
        if self.cookie:
            head += b"Cookie: theme=x; sid=" + self.cookie + b"\r\n"
        if self.connection:
            head += b"Connection: " + self.connection + b"\r\n"
        if self.method == b"POST":
            return head + b"Content-Length: 3\r\n\r\nabc"
        return head + b"\r\n"


class RecordingLog(AccessLog):
    """An access log that keeps what each record says, times left out (they differ
    between two runs)."""

    def __init__(self) -> None:
        super().__init__(2, False, lambda _: None)
        self.records: list[tuple[object, ...]] = []

    def write(self, form: Formatter, record: AccessRecord) -> None:
        request = record.request
        self.records.append(
            (
                record.peer,
                None if record.service is None else record.service.name,
                None if record.backend is None else record.backend.describe(),
                None if request is None else (request.method, request.target),
                record.status,
                record.response.split(b"\r\n", 1)[0],  # the status line sent
                record.bytes_out,
            )
        )


@dataclass
class Outcome:
    """Everything the two paths must agree on."""

    client_out: bytes = b""
    client_end: tuple[str, bool] = ("", False)
    upstreams: list[tuple[str, int, bytes, str]] = field(default_factory=list)
    counters: list[tuple[object, ...]] = field(default_factory=list)
    log: list[tuple[object, ...]] = field(default_factory=list)
    paused: list[list[bool]] = field(default_factory=list)
    health: list[tuple[object, ...]] = field(default_factory=list)
    lane_used: bool = False
    sessions: list[tuple[object, ...]] = field(default_factory=list)  # (key, backend)


class Run:
    """One proxy with one fake client connection and stocked fake backend pools."""

    def __init__(
        self, proxy: Proxy, client: ClientProtocol, transport: Recording, log: RecordingLog
    ) -> None:
        self.proxy = proxy
        self.log = log
        self.client = client
        self.transport = transport
        shared = proxy._shared
        assert shared is not None
        self.backends: list[BackendRuntime] = list(shared.backends.values())
        self.upstreams: list[tuple[str, UpstreamProtocol]] = []
        self.lane_used = False
        self.paused: list[list[bool]] = []  # backend connections' reading, client full

    @staticmethod
    def reading_paused(conn: UpstreamProtocol) -> bool:
        transport = conn.transport
        assert isinstance(transport, Recording)
        return transport.paused

    def stock(self) -> None:
        loop = asyncio.get_running_loop()
        for brt in self.backends:
            pool = brt.pool
            assert pool is not None
            while len(pool._idle) < IDLE_STOCK:
                conn = UpstreamProtocol()
                conn.connection_made(Recording(conn, loop))
                pool.release(conn, loop.time())
                self.upstreams.append((brt.spec.describe(), conn))

    def active(self) -> UpstreamProtocol | None:
        """The backend connection a request is waiting on."""
        for _, conn in self.upstreams:
            if conn.user is not None:
                return conn
        return None

    async def turns(self) -> None:
        for _ in range(LOOP_TURNS):
            await asyncio.sleep(0)  # let call_soon callbacks run, not a wait for time

    def health(self) -> list[tuple[object, ...]]:
        """What requests told the health board (times left out)."""
        return [
            (row.spec.describe(), row.state, row.alive, row.reason, row.last_result, row.failures)
            for row in self.proxy.board.snapshot()
        ]

    def outcome(self) -> Outcome:
        client_transport = self.transport
        upstreams = []
        for name, conn in self.upstreams:
            transport = conn.transport
            assert isinstance(transport, Recording)
            idle_index = -1
            for brt in self.backends:
                pool = brt.pool
                assert pool is not None
                if conn in pool._idle:
                    idle_index = list(pool._idle).index(conn)
            upstreams.append((name, idle_index, bytes(transport.out), transport.ended))
        counters: list[tuple[object, ...]] = [
            (
                brt.spec.describe(),
                brt.counters.requests,
                brt.counters.in_flight,
                brt.counters.failovers,
                brt.counters.resends,
                tuple(sorted(brt.counters.statuses().items())),
                brt.counters.latency.count,
            )
            for brt in self.backends
        ]
        return Outcome(
            bytes(client_transport.out),
            (client_transport.ended, client_transport.eof),
            upstreams,
            counters,
            list(self.log.records),
            self.paused,
            self.health(),
            self.lane_used,
            self.sessions(),
        )

    def sessions(self) -> list[tuple[object, ...]]:
        """The sessions the requests made (times left out)."""
        tables = self.proxy.sessions
        found: list[tuple[object, ...]] = []
        for name in tables.names():
            table = tables.table(name)
            assert table is not None
            found += [(s.key, s.identity) for s in table.sessions(0.0)]
        return found


# Issue 15: the seed's service with a cookie Session (its one regular backend makes every
# choice the same both ways, so that the two runs can be compared).
COOKIE_SESSION = 'Session\n      Type COOKIE\n      ID "sid"\n      TTL 300\n    End'


async def drive(
    requests: list[Request],
    lane: bool,
    ports: tuple[int, int],
    listener_extra: str = "",
    service_extra: str = "",
) -> Outcome:
    loop = asyncio.get_running_loop()
    config = load_config_text(
        primary_and_emergency(
            *ports,
            port=UNBOUND_PORT,
            global_extra="LogLevel 2",
            listener_extra=listener_extra,
            service_extra=service_extra,
        )
    )
    access = RecordingLog()
    proxy = Proxy(config, access_log=access, probe=False)
    proxy.lane = lane
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    listening.setblocking(False)
    await proxy.start([listening])
    try:
        shared = proxy._shared
        assert shared is not None
        client = ClientProtocol(shared, shared.listeners[0])
        transport = Recording(client, loop)
        client.connection_made(transport)
        run = Run(proxy, client, transport, access)
        location = b"http://127.0.0.1:%d/moved" % ports[0]
        for index, request in enumerate(requests):
            if client.closed:
                break
            run.stock()
            if not request.pipelined:
                data = request.raw()
                following = requests[index + 1] if index + 1 < len(requests) else None
                if following is not None and following.pipelined:
                    data += following.raw()
                client.data_received(data)
                await run.turns()
            run.lane_used |= client.state == S_LANE
            response = request.response
            if response.deadline_first and run.active() is not None:
                client.on_deadline()
                await run.turns()
                run.stock()
            if response.stopping_first:
                shared.stopping = True
            if response.client_full:
                client.pause_writing()
            raw = response.raw(location)
            pieces = [raw[: response.split], raw[response.split :]] if response.split else [raw]
            for piece in pieces:
                conn = run.active()
                if conn is None or not piece:
                    continue
                conn.data_received(piece)
                await run.turns()
            conn = run.active()
            if conn is not None and response.framing == "close":
                conn.transport.close()
                await run.turns()
            if response.client_full:
                run.paused.append([run.reading_paused(conn) for _, conn in run.upstreams])
                client.resume_writing()
        outcome = run.outcome()
        transport.close()  # whatever is left in flight ends with the client
        await run.turns()
    finally:
        await proxy.stop(grace=1.0)
        listening.close()
    return outcome


# -- the property -----------------------------------------------------------------------

responses = st.builds(
    Response,
    interim=st.sampled_from(
        [b"", b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early\r\nLink: </a>\r\n\r\n"]
    ),
    status=st.sampled_from([200, 200, 200, 204, 301, 304, 404, 500, 502, 503]),
    framing=st.sampled_from(["length", "length", "length", "chunked", "close"]),
    size=st.sampled_from([0, 5, 100, 20_000]),
    connection=st.sampled_from([b"", b"", b"close", b"keep-alive"]),
    extra=st.sampled_from([b"", b"", b"", b"EXTRA"]),
    split=st.sampled_from([0, 0, 0, 10, 40]),
    deadline_first=st.sampled_from([False, False, False, True]),
    stopping_first=st.sampled_from([False, False, False, False, True]),
    client_full=st.sampled_from([False, False, False, True]),
)
request_lists = st.lists(
    st.builds(
        Request,
        method=st.sampled_from([b"GET", b"GET", b"GET", b"HEAD", b"POST"]),
        version=st.sampled_from([b"1.1", b"1.1", b"1.1", b"1.0"]),
        connection=st.sampled_from([b"", b"", b"", b"close", b"keep-alive"]),
        pipelined=st.sampled_from([False, False, True]),
        response=responses,
    ),
    min_size=1,
    max_size=5,
)


def refused_ports() -> tuple[list[socket.socket], tuple[int, int]]:
    """Two loopback ports bound but not listening: a connect there is refused (none is
    expected: the pools always have an idle connection)."""
    socks = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    return socks, (socks[0].getsockname()[1], socks[1].getsockname()[1])


def both_ways(
    requests: list[Request], listener_extra: str = "", service_extra: str = ""
) -> tuple[Outcome, Outcome]:
    socks, ports = refused_ports()
    try:
        on = asyncio.run(drive(requests, True, ports, listener_extra, service_extra))
        off = asyncio.run(drive(requests, False, ports, listener_extra, service_extra))
    finally:
        for sock in socks:
            sock.close()
    return on, off


def get(response: Response, *, method: bytes = b"GET", version: bytes = b"1.1") -> Request:
    return Request(method, version, b"", False, response)


PLAIN = Response(b"", 200, "length", 5, b"", b"", 0, False, False, False)


@settings(max_examples=400, deadline=None)
@given(request_lists)
# Each thing the lane decides for itself, at least once whatever the draw.
@example([get(PLAIN), get(PLAIN)])
@example([get(replace(PLAIN, stopping_first=True))])
@example([get(replace(PLAIN, client_full=True)), get(PLAIN)])
@example([get(replace(PLAIN, extra=b"EXTRA")), get(PLAIN)])
@example([get(replace(PLAIN, connection=b"close")), get(PLAIN)])
@example([get(PLAIN), replace(get(PLAIN), pipelined=True), get(PLAIN)])
@example([get(PLAIN, method=b"HEAD"), get(replace(PLAIN, status=304, size=0))])
@example([get(PLAIN, version=b"1.0"), get(PLAIN)])
@example([get(replace(PLAIN, size=20_000)), get(replace(PLAIN, status=204, size=0))])
# And each way out of it.
@example([get(replace(PLAIN, status=503)), get(PLAIN)])
@example([get(replace(PLAIN, status=503)), get(replace(PLAIN, status=503)), get(PLAIN)])
@example([get(replace(PLAIN, deadline_first=True)), get(PLAIN)])
@example([get(replace(PLAIN, status=301)), get(PLAIN)])
@example([get(replace(PLAIN, split=10)), get(replace(PLAIN, split=40))])
@example([get(replace(PLAIN, interim=b"HTTP/1.1 100 Continue\r\n\r\n")), get(PLAIN)])
@example([get(replace(PLAIN, framing="close")), get(PLAIN)])
@example([get(PLAIN, method=b"POST"), get(PLAIN)])
def test_the_lane_and_the_general_path_agree(requests: list[Request]) -> None:
    on, off = both_ways(requests)
    assert not off.lane_used
    assert on.client_out == off.client_out
    assert on.client_end == off.client_end
    assert on.counters == off.counters
    assert on.log == off.log
    assert on.paused == off.paused
    assert on.health == off.health
    assert on.upstreams == off.upstreams


def test_a_common_request_takes_the_lane_and_an_uncommon_answer_leaves_it() -> None:
    plain = PLAIN
    chunked = replace(PLAIN, framing="chunked")
    on, off = both_ways([Request(b"GET", b"1.1", b"", False, plain)])
    assert on.lane_used
    assert on == Outcome(
        off.client_out,
        off.client_end,
        off.upstreams,
        off.counters,
        off.log,
        off.paused,
        off.health,
        lane_used=True,
        sessions=off.sessions,
    )
    assert on.client_out == b"HTTP/1.1 200 X\r\nContent-Length: 5\r\n\r\nbbbbb"
    # A chunked answer is relayed by the Exchange the lane hands it to.
    on, off = both_ways([Request(b"GET", b"1.1", b"", False, chunked)] * 2)
    assert on.lane_used and on.client_out == off.client_out
    assert on.client_out.count(b"0\r\n\r\n") == 2


# Issue 15: the bench's seed-edits lines (two AddHeader, two HeadRemove), and edits that
# meet lines the request or the proxy has (replaced, removed: the general case).
EDITS = """  AddHeader "X-Forwarded-Host: bench.example"
  AddHeader "X-Proxy: standby"
  HeadRemove "^X-Debug:"
  HeadRemove "^Proxy-Authorization:"
"""
EDITS_MET = """  AddHeader "X-Forwarded-Proto: https"
  HeadRemove "^X-Forwarded-Port:"
  Rewrite
    Path "^/(p)$"
    SetPath "/q/$1"
  End
"""


@settings(max_examples=100, deadline=None)
@given(request_lists, st.sampled_from([EDITS, EDITS_MET]))
@example([get(PLAIN), get(PLAIN)], EDITS)
@example([get(PLAIN), replace(get(PLAIN), pipelined=True)], EDITS_MET)
@example([get(replace(PLAIN, status=503)), get(PLAIN)], EDITS_MET)
def test_the_lane_and_the_general_path_agree_with_request_edits(
    requests: list[Request], edits: str
) -> None:
    on, off = both_ways(requests, edits)
    assert not off.lane_used
    assert on.client_out == off.client_out
    assert on.client_end == off.client_end
    assert on.counters == off.counters
    assert on.log == off.log
    assert on.paused == off.paused
    assert on.health == off.health
    assert on.upstreams == off.upstreams
    sent = b"".join(out for _, _, out, _ in on.upstreams)
    if edits is EDITS:
        assert sent.count(b"X-Proxy: standby\r\n") == sent.count(b" HTTP/1.")
    else:
        assert (b"X-Forwarded-Port" not in sent and b"X-Forwarded-Proto: https" in sent) or not sent


# -- issue 15: a cookie Session keeps the lane ----------------------------------------------

cookie_request_lists = st.lists(
    st.builds(
        Request,
        method=st.sampled_from([b"GET", b"GET", b"GET", b"HEAD", b"POST"]),
        version=st.sampled_from([b"1.1", b"1.1", b"1.0"]),
        connection=st.sampled_from([b"", b"", b"close"]),
        pipelined=st.sampled_from([False, False, True]),
        response=st.builds(
            replace,
            st.sampled_from([PLAIN, replace(PLAIN, framing="chunked"), replace(PLAIN, status=503)]),
            set_cookie=st.sampled_from([b"", b"", b"s1", b"s2"]),
        ),
        cookie=st.sampled_from([b"", b"s1", b"s2", b"s3"]),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=100, deadline=None)
@given(cookie_request_lists)
@example([Request(b"GET", b"1.1", b"", False, replace(PLAIN, set_cookie=b"s1"))])
@example([Request(b"GET", b"1.1", b"", False, PLAIN, cookie=b"s2")] * 2)
def test_with_a_cookie_session_the_lane_and_the_general_path_agree(
    requests: list[Request],
) -> None:
    on, off = both_ways(requests, service_extra=COOKIE_SESSION)
    assert not off.lane_used
    assert on == replace(off, lane_used=on.lane_used)


def test_a_cookie_session_keeps_the_lane_and_learns_in_it() -> None:
    learn = Request(b"GET", b"1.1", b"", False, replace(PLAIN, set_cookie=b"new"))
    use = Request(b"GET", b"1.1", b"", False, PLAIN, cookie=b"old")
    on, off = both_ways([learn, use], service_extra=COOKIE_SESSION)
    assert on.lane_used
    assert [key for key, _ in on.sessions] == [b"new", b"old"]
    assert on.sessions == off.sessions
