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
