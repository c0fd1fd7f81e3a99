"""Property tests: split invariance, and agreement with httptools (llhttp) on framing."""

from __future__ import annotations

from dataclasses import dataclass, field

import httptools
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from standby.http1 import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    ChunkedBody,
    HttpError,
    LengthBody,
    Limits,
    RequestHead,
    forward_request_head,
    parse_request_head,
)
from standby.http1.request import Forwarding, forward_head, forward_spliced
from standby.model import methods_for_xhttp
from tests.http1.feeding import feed_body, feed_head, pieces

LIMITS = Limits()
METHODS = methods_for_xhttp(2)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = st.text(TCHARS, min_size=1, max_size=12).map(lambda s: "X-" + s)
values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24).map(
    lambda s: s.strip()
)
targets = st.text("abcdefghijklmnopqrstuvwxyz0123456789/-._~%!$&'()*+,;=:@?", max_size=30).map(
    lambda s: "/" + s
)


@dataclass
class Message:
    data: bytes  # head + body + what follows
    head_len: int
    body_wire: bytes  # the body as framed on the wire
    payload: bytes  # the decoded body
    after: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


@st.composite
def chunked_wire(draw: st.DrawFn, payload: bytes) -> bytes:
    out = []
    rest = payload
    while rest:
        size = draw(st.integers(1, max(1, len(rest))))
        ext = draw(st.sampled_from(["", ";a", ";a=b", ';q="x y";z']))
        hexsize = draw(st.sampled_from(["%x", "%X", "0%x"])) % size
        out.append(f"{hexsize}{ext}\r\n".encode() + rest[:size] + b"\r\n")
        rest = rest[size:]
    trailer = draw(st.sampled_from([b"", b"X-T: 1\r\n"]))
    return b"".join(out) + b"0\r\n" + trailer + b"\r\n"


@st.composite
def messages(draw: st.DrawFn) -> Message:
    http11 = draw(st.booleans())
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]))
    headers = draw(st.lists(st.tuples(names, values), max_size=8))
    if http11 or draw(st.booleans()):
        headers.insert(draw(st.integers(0, len(headers))), ("Host", "www.nire.com"))
    for extra in (
        ("Connection", "keep-alive"),
        ("Connection", "close"),
        ("Accept", "*/*"),
        ("X-Forwarded-For", "192.0.2.1"),
        ("Keep-Alive", "timeout=5"),
        # issue 12: dropped, as CGI backends read them as Content-Length, X-Forwarded-For
        ("Content_Length", "5"),
        ("x_forwarded-for", "192.0.2.9"),
        ("Transfer_Encoding", "chunked"),
        ("HTTP2-Settings", "AAMA"),
        ("X_Kept", "1"),
    ):
        if draw(st.booleans()):
            headers.insert(draw(st.integers(0, len(headers))), extra)
    framing = draw(st.sampled_from(["none", "length", "chunked"] if http11 else ["none", "length"]))
    payload = draw(st.binary(max_size=300)) if framing != "none" else b""
    if framing == "length":
        headers.insert(draw(st.integers(0, len(headers))), ("Content-Length", str(len(payload))))
        wire = payload
    elif framing == "chunked":
        headers.insert(draw(st.integers(0, len(headers))), ("Transfer-Encoding", "chunked"))
        wire = draw(chunked_wire(payload))
    else:
        wire = b""
    version = "HTTP/1.1" if http11 else "HTTP/1.0"
    lines = [f"{method} {draw(targets)} {version}"]
    for name, value in headers:
        sep = draw(st.sampled_from([": ", ":", ":\t", ":  "]))
        lines.append(f"{name}{sep}{value}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    after = draw(st.sampled_from([b"", b"GET / HTTP/1.1\r\n", b"\r\n"]))
    return Message(head + wire + after, len(head), wire, payload, after, headers)


def summary(head: RequestHead) -> tuple[object, ...]:
    return (
        head.method,
        head.target,
        head.version,
        head.raw,
        head.host,
        head.body,
        head.content_length,
        head.keep_alive,
        head.upgrade,
        head.expect_continue,
        forward_request_head(head, b"198.51.100.7", b"http", b"80"),
    )


def parse(buf: bytes) -> tuple[RequestHead, int] | None:
    return parse_request_head(buf, LIMITS, METHODS)


def framer_for(head: RequestHead) -> ChunkedBody | LengthBody:
    if head.body == BODY_CHUNKED:
        return ChunkedBody()
    return LengthBody(head.content_length if head.body == BODY_LENGTH else 0)


@PROPERTY_SETTINGS
@given(messages(), st.lists(st.integers(0, 1200), max_size=12))
def test_any_split_gives_the_same_head_forward_and_body(message: Message, cuts: list[int]) -> None:
    whole = parse(message.data)
    assert whole is not None
    head, consumed = whole
    assert consumed == message.head_len
    chunks = pieces(message.data, cuts)
    kind, result = feed_head(parse, chunks)
    assert kind == "ok"
    split_head, split_consumed = result
    assert split_consumed == consumed
    assert summary(split_head) == summary(head)
    # The body framer forwards exactly the body as framed, whatever the split.
    rest = message.data[consumed:]
    forwarded, after, error = feed_body(framer_for(head), pieces(rest, cuts))
    assert error is None
    assert forwarded == message.body_wire
    assert after == message.after
    # Forwarding keeps every end-to-end header and adds ours.
    out = forward_request_head(head, b"198.51.100.7", b"http", b"80")
    again = parse_request_head(out, LIMITS, METHODS)
    assert again is not None and again[0].body == head.body
    assert again[0].header(b"x-forwarded-proto") == b"http"
    assert b"198.51.100.7" in (again[0].header(b"x-forwarded-for") or b"")
    hop = {"connection", "keep-alive", "http2-settings"}
    hop |= {"content_length", "transfer_encoding", "x_forwarded-for"}  # spelt with "_"
    kept = [(n.lower(), v) for n, v in message.headers if n.lower() not in hop]
    got = [
        (line.split(": ", 1)[0].lower(), line.split(": ", 1)[1])
        for line in again[0].header_lines()
        if not line.lower().startswith("x-forwarded-")
    ]
    assert got == [(n, v) for n, v in kept if not n.startswith("x-forwarded-")]


class Oracle:
    """httptools callbacks: where the message completes and what the body is."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def oracle_agrees(message: bytes, payload: bytes) -> Oracle:
    """httptools must see one complete message ending exactly at the last byte."""
    oracle = Oracle()
    parser = httptools.HttpRequestParser(oracle)
    parser.feed_data(message[:-1])
    assert not oracle.complete
    parser.feed_data(message[-1:])
    assert oracle.complete
    assert bytes(oracle.body) == payload
    return oracle


@PROPERTY_SETTINGS
@given(messages())
def test_valid_messages_agree_with_httptools(message: Message) -> None:
    whole = parse(message.data)
    assert whole is not None
    head, consumed = whole
    end = consumed + len(message.body_wire)
    oracle = oracle_agrees(message.data[:end], message.payload)
    assert oracle.url == head.target
    head_fields = oracle.headers[: len(message.headers)]  # trailer fields come after
    assert [(n.decode().lower(), v.decode().strip(" \t")) for n, v in head_fields] == [
        (n.lower(), v) for n, v in message.headers
    ]


FRAMING_LINES = [
    "Content-Length: 5",
    "Content-Length: 6",
    "Content-Length: 05",
    "Content-Length:5",
    "Content-Length: 5 ",
    "Content-Length: +5",
    "Content-Length: 5, 5",
    "Content-Length: 0x5",
    "Content-Length : 5",
    "Content-Length:\x0b5",
    "content-length: 5",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: Chunked",
    "Transfer-Encoding: chunked ",
    "Transfer-Encoding:\tchunked",
    "Transfer-Encoding: chunked, chunked",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: chunked, identity",
    "Transfer-Encoding: xchunked",
    "Transfer-Encoding: chunked\x00",
    "Transfer-Encoding : chunked",
    " Transfer-Encoding: chunked",
    "Transfer_Encoding: chunked",
    "X: y\nTransfer-Encoding: chunked",
    "X: y\rTransfer-Encoding: chunked",
    "Connection: Content-Length",
    "Connection: close",
]
BODIES = [
    b"",
    b"hello",
    b"helloGET / HTTP/1.1\r\nHost: b\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: b\r\n\r\n",
    b"5 \r\nhello\r\n0\r\n\r\n",
    b"5\nhello\n0\n\n",
    b"5\r\nhello\r\n0\r\nX: y\r\n\r\n",
    b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
]


@PROPERTY_SETTINGS
@given(
    st.lists(st.sampled_from(FRAMING_LINES), max_size=3),
    st.sampled_from(BODIES),
    st.sampled_from(["HTTP/1.1", "HTTP/1.0"]),
    st.integers(0, 3),
)
def test_mutated_framing_never_disagrees_with_httptools(
    lines: list[str], body: bytes, version: str, host_at: int
) -> None:
    lines = list(lines)
    lines.insert(min(host_at, len(lines)), "Host: a")
    head_bytes = (
        f"POST /p {version}\r\n{chr(13) + chr(10)}".encode("latin-1").replace(b"\r\n\r\n", b"\r\n")
        + "".join(line + "\r\n" for line in lines).encode("latin-1")
        + b"\r\n"
    )
    data = head_bytes + body
    try:
        result = parse(data)
    except HttpError:
        return  # refusing is always safe; the unit tests check refusals are the right ones
    assert result is not None
    head, consumed = result
    assert consumed == len(head_bytes)
    rest = data[consumed:]
    if head.body == BODY_NONE:
        assert all(not line.lower().startswith("transfer-encoding") for line in lines)
        oracle_agrees(data[:consumed], b"")
        return
    framer = framer_for(head)
    forwarded, _after, error = feed_body(framer, [rest])
    if error is not None or not framer.done:
        return  # a refused or unfinished body: the shell closes the backend connection
    payload = rest[: head.content_length] if head.body == BODY_LENGTH else decode_chunked(forwarded)
    oracle_agrees(data[: consumed + len(forwarded)], payload)


def decode_chunked(wire: bytes) -> bytes:
    """A plain reference decoder for wire bytes our framer already accepted."""
    out = bytearray()
    pos = 0
    while True:
        line_end = wire.index(b"\r\n", pos)
        size = int(wire[pos:line_end].split(b";")[0].strip(), 16)
        pos = line_end + 2
        if size == 0:
            return bytes(out)
        out += wire[pos : pos + size]
        pos += size + 2


@PROPERTY_SETTINGS
@given(messages())
def test_the_forwarding_shortcuts_give_the_general_splice(message: Message) -> None:
    # forward_head answers a plain head and one with a single hop-by-hop line itself;
    # forward_spliced handles every head, and must agree.
    parsed = parse(message.data)
    assert parsed is not None
    head = parsed[0]
    fwd = Forwarding(b"198.51.100.7", b"https", b"443")
    assert forward_head(head, fwd) == forward_spliced(head, fwd)


def test_a_browsers_keep_alive_line_is_cut_out() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n"
    parsed = parse(raw)
    assert parsed is not None
    fwd = Forwarding(b"192.0.2.1", b"http", b"80")
    assert forward_head(parsed[0], fwd) == (
        b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Forwarded-For: 192.0.2.1\r\n"
        b"X-Forwarded-Proto: http\r\nX-Forwarded-Port: 80\r\n\r\n"
    )
