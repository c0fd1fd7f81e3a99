from __future__ import annotations

import re

import pytest

from standby.http1 import (
    BODY_LENGTH,
    error_response,
    parse_response_head,
    reason_phrase,
    redirect_response,
)
from standby.http1.messages import NO_CACHE_HEADERS


def split(message: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers and body, read back with our own strict response parser."""
    result = parse_response_head(message, b"GET")
    assert result is not None
    head, consumed = result
    assert head.body == BODY_LENGTH
    body = message[consumed:]
    assert len(body) == head.content_length
    headers = {}
    for line in head.raw.split(b"\r\n")[1:-2]:
        name, _, value = line.partition(b": ")
        headers[name] = value
    return head.status, headers, body


@pytest.mark.parametrize("status", [400, 405, 413, 414, 431, 501, 502, 503, 504, 505])
def test_error_response_is_complete_and_leaks_nothing(status: int) -> None:
    code, headers, body = split(error_response(status))
    assert code == status
    assert headers[b"Content-Type"] == b"text/html"
    assert headers[b"Connection"] == b"close"
    assert reason_phrase(status) in body
    assert not re.search(rb"standby|python|[0-9]+\.[0-9]+\.[0-9]+|/usr|/home", body, re.I)


def test_error_response_options() -> None:
    message = error_response(
        503, body=b"<p>custom</p>", close=False, extra=((b"Retry-After", b"30"),)
    )
    code, headers, body = split(message)
    assert (code, body) == (503, b"<p>custom</p>")
    assert headers[b"Retry-After"] == b"30"
    assert b"Connection" not in headers
    with pytest.raises(ValueError):
        error_response(503, extra=((b"X", b"a\r\nInjected: 1"),))
    with pytest.raises(ValueError):
        error_response(99)


def test_redirect_response() -> None:
    code, headers, body = split(redirect_response(301, b"https://www.nire.com/a?b=<c>", close=True))
    assert code == 301
    assert headers[b"Location"] == b"https://www.nire.com/a?b=<c>"
    assert headers[b"Connection"] == b"close"
    assert b'href="https://www.nire.com/a?b=&lt;c&gt;"' in body
    _code, headers, _body = split(redirect_response(307, b"/x", close=False))
    assert b"Connection" not in headers


@pytest.mark.parametrize("url", [b"http://a/\r\nSet-Cookie: x", b"http://a/ b", b""])
def test_redirect_rejects_unsafe_urls(url: bytes) -> None:
    with pytest.raises(ValueError):
        redirect_response(302, url, close=True)


def test_redirect_rejects_non_redirect_codes() -> None:
    with pytest.raises(ValueError):
        redirect_response(200, b"/", close=True)


@pytest.mark.parametrize("status", [400, 403, 404, 405, 408, 413, 414, 431, 500, 502, 503, 504])
def test_every_error_page_forbids_caching(status: int) -> None:
    # A cached 503 would show a crawler the outage after it ended (Pound 4 sends the same).
    head = error_response(status, extra=((b"Retry-After", b"30"),)).split(b"\r\n\r\n")[0]
    for name, value in NO_CACHE_HEADERS:
        assert b"\r\n%s: %s" % (name, value) in head


def test_a_redirect_may_be_cached() -> None:
    assert b"no-store" not in redirect_response(301, b"https://example.com/", close=False)
