"""Micro-benchmark: parse + forward cost of one typical browser request, in microseconds.

Run: python bench/http1_micro.py [iterations]

Also times the response side (parse a small backend response and build the client head)
and, for comparison, httptools parsing the same request head (callbacks only, no
forwarding), so the figures can be read against a C parser on the same machine.
"""

from __future__ import annotations

import sys
import timeit

import httptools

from standby.http1 import (
    Limits,
    client_response_head,
    forward_request_head,
    parse_request_head,
    parse_response_head,
)
from standby.model import methods_for_xhttp

# What a current desktop browser sends for a page (about 700 bytes).
BROWSER_REQUEST = (
    b"GET /2024/05/standby-server/?utm_source=feed HTTP/1.1\r\n"
    b"Host: www.nire.com\r\n"
    b"Connection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"\r\n'
    b"sec-ch-ua-mobile: ?0\r\n"
    b'sec-ch-ua-platform: "Linux"\r\n'
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/124.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    b"Sec-Fetch-Site: none\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-User: ?1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: ja,en-US;q=0.9,en;q=0.8\r\n"
    b"Cookie: wordpress_test_cookie=WP%20Cookie%20check; wp-settings-time-1=1715000000\r\n"
    b"\r\n"
)
SMALL_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: Apache\r\n"
    b"Date: Mon, 06 May 2024 10:00:00 GMT\r\n"
    b"Content-Type: text/html; charset=UTF-8\r\n"
    b"Content-Length: 100\r\n"
    b"Keep-Alive: timeout=5, max=100\r\n"
    b"Connection: Keep-Alive\r\n"
    b"\r\n"
)


class _Sink:
    """httptools callbacks that keep nothing, as a lower bound for a C parser."""

    def on_header(self, name: bytes, value: bytes) -> None:
        pass


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    limits = Limits()
    methods = methods_for_xhttp(0)

    def request() -> None:
        parsed = parse_request_head(BROWSER_REQUEST, limits, methods)
        assert parsed is not None
        forward_request_head(parsed[0], b"192.0.2.10", b"http", b"80")

    def response() -> None:
        parsed = parse_response_head(SMALL_RESPONSE, b"GET")
        assert parsed is not None
        client_response_head(parsed[0], keep_alive=True, client_http11=True)

    def oracle() -> None:
        httptools.HttpRequestParser(_Sink()).feed_data(BROWSER_REQUEST)

    print(f"request head {len(BROWSER_REQUEST)} bytes, {n} iterations, best of 5")
    for name, fn in (
        ("parse_request_head + forward_request_head", request),
        ("parse_response_head + client_response_head", response),
        ("httptools request parse (no forwarding)", oracle),
    ):
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n
        print(f"  {name:<46} {best * 1e6:6.2f} us")


if __name__ == "__main__":
    main()
