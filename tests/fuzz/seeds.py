"""The seed corpus of the fuzzer (tests/fuzz/corpus): ``python -m tests.fuzz.seeds`` writes it.

Each file is one input in the harness's layout (tests/fuzz/harness.py): byte 0 the entry
point, bytes 1..7 its options, then the payload. The payloads are what the parsers meet:
browsers', crawlers' and tools' requests, nginx's and Apache's responses, chunked bodies,
and the edge cases of request.py's and response.py's decisions; the options reach every
branch of the harness (limits at their edges and beyond a C size, odd argument types and
call shapes, forged and edited response heads, every wrong binding).
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# Entry points, in the order of harness.TARGETS.
(
    PARSE_REQUEST,
    PARSE_RESPONSE,
    CLIENT_HEAD,
    CHUNKED_END,
    SCAN_REQUEST,
    SCAN_RESPONSE,
    FIELD_BLOCK,
    REQUEST_LINE,
    BIND,
) = range(9)
BAD_BINDINGS = 18  # len(harness.BAD_BINDINGS)

REQUESTS = {
    "browser": (
        b"GET /wp-content/themes/site/style.css?ver=6.4 HTTP/1.1\r\n"
        b"Host: www.example.com\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
        b"Accept: text/css,*/*;q=0.1\r\nAccept-Language: en-GB,en;q=0.5\r\n"
        b"Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n"
        b"Referer: https://www.example.com/\r\n"
        b"Cookie: wordpress_test_cookie=WP%20Cookie%20check\r\n"
        b"Upgrade-Insecure-Requests: 1\r\n\r\n"
    ),
    "crawler": (
        b"GET /robots.txt HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n"
        b"User-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\r\n"
        b"Accept: */*\r\nX-Forwarded-For: 203.0.113.7 \r\n\r\n"
    ),
    "form": (
        b"POST /wp-login.php HTTP/1.1\r\nHost: www.example.com\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 42\r\n\r\nlog=a"
    ),
    "wrk": b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
    "ab": b"GET / HTTP/1.0\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n",
    "ab-keep-alive": b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nUser-Agent: ab\r\n\r\n",
    "closing": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
    "chunked-post": (
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    ),
    "expect": b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    "websocket": (
        b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ),
    "duplicate-host": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "missing-host": b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "http2-version": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "http09": b"GET /\r\n\r\n",
    "leading-crlf": b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "xff-twice": (
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\n"
        b"x-forwarded-for: 198.51.100.2, 10.0.0.1\t \r\nX-Forwarded-Proto: http\r\n\r\n"
    ),
    "absolute-form": b"GET http://www.example.com/a?b=c HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    "options-star": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "brew": b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "bare-cr": b"GET / HTTP/1.1\rHost: a\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "latin1-value": b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\nX-Name: Jos\xe9\r\n\r\n",
    "cl-te": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    ),
    "te-gzip": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "te-http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "cl-twice": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
    "cl-19-digits": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n",
    "cl-18-digits": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 123456789012345678\r\n\r\n",
    "cl-signed": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
    "hop-by-hop": (
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"
        b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\r\n"
    ),
    "connection-empty": b"GET / HTTP/1.1\r\nHost: a\r\nConnection:\r\nConnection: ,close,\r\n\r\n",
    "incomplete": b"GET /index.html HTTP/1.1\r\nHost: www.exa",
    "incomplete-line": b"GET /index.html HT",
    # issue 12's request rules: each is refused or edited by Python, declined by C
    "fragment": b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
    "raw-utf8-target": b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    "absolute-other-host": b"GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n",
    "connect": b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    "host-slash": b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "host-literal": b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    "cl-leading-zero": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\n\r\n",
    "underscore-names": b"GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n"
    b"X_Forwarded_For: 1.2.3.4\r\n\r\n",
    "connection-xff": b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n"
    b"Connection: X-Forwarded-For\r\n\r\n",
    "h2c": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMA\r\n\r\n",
}

RESPONSES = {
    "nginx": (
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 08:00:00 GMT\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 73\r\nConnection: keep-alive\r\n\r\n"
    ),
    "apache-chunked": (
        b"HTTP/1.1 200 OK\r\nDate: Thu, 26 Nov 2026 08:00:00 GMT\r\nServer: Apache/2.4.57\r\n"
        b"Vary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: text/html; charset=UTF-8\r\n\r\n1a\r\n"
    ),
    "not-modified": b'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\nConnection: close\r\n\r\n',
    "until-close": b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>",
    "no-reason": b"HTTP/1.1 204\r\n\r\n",
    "switching": (
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    ),
    "continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "redirect": (
        b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.5:8080/login\r\n"
        b"Content-Location: http://10.0.0.5:8080/x\r\nContent-Length: 0\r\n\r\n"
    ),
    "cl-same-twice": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "cl-different": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "te-twice": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    ),
    "http2": b"HTTP/2 200 OK\r\n\r\n",
    "status-099": b"HTTP/1.1 099 Odd\r\n\r\n",
    "cookies": (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=b; Path=/; HttpOnly\r\nSet-Cookie: c=\xe9\r\n"
        b"Content-Length: 0\r\nKeep-Alive: timeout=5, max=100\r\nConnection: Keep-Alive\r\n\r\n"
    ),
    "connection-list": (
        b"HTTP/1.1 200 OK\r\nConnection: close, X-Trace\r\nX-Trace: 1\r\nContent-Length: 0\r\n\r\n"
    ),
    "upgrade-in-200": b"HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    "incomplete": b"HTTP/1.1 200 OK\r\nContent-Len",
}

CHUNKED = {
    "plain": b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "then-next": b"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n",
    "upper-hex": b"A\r\n0123456789\r\n0\r\n\r\n",
    "extension": b"5;name=value\r\nhello\r\n0;last\r\n\r\n",
    "trailer": b"5\r\nhello\r\n0\r\nExpires: never\r\n\r\n",
    "sixteen-digits": b"0000000000000005\r\nhello\r\n0\r\n\r\n",
    "seventeen-digits": b"00000000000000005\r\nhello\r\n0\r\n\r\n",
    "huge-size": b"ffffffffffffffff\r\nhello",
    "no-crlf-after-data": b"5\r\nhelloXY0\r\n\r\n",
    "bare-lf": b"5\nhello\n0\n\n",
    "incomplete": b"5\r\nhel",
    "last-incomplete": b"0\r\n\r",
}


def header(target: int, *options: int) -> bytes:
    return bytes([target, *options]).ljust(8, b"\0")


def seeds() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, head in REQUESTS.items():
        out[f"request-{name}"] = header(PARSE_REQUEST, 0, 0, 0, 0, 1) + head
        out[f"scan-request-{name}"] = header(SCAN_REQUEST) + head
        out[f"field-block-{name}"] = header(FIELD_BLOCK) + head
    wrk, browser, form = REQUESTS["wrk"], REQUESTS["browser"], REQUESTS["form"]
    # Limits: tight, the largest that fit in C, beyond a C size, field by field; no Limits.
    for profile in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15):
        out[f"request-limits-{profile}"] = header(PARSE_REQUEST, profile) + form
    out["request-limits-by-field"] = header(PARSE_REQUEST, 0xC0, 0x34, 0x25, 0x36) + browser
    out["request-limits-huge"] = header(PARSE_REQUEST, 0xC0, 0xFE, 0xFE, 0xFE) + browser
    out["scan-request-limits-junk"] = header(SCAN_REQUEST, 0, 0, 0, 0, 0, 1) + wrk
    # Method sets and buffers of other types, by keyword, a call one argument short.
    for methods in range(12):
        out[f"request-methods-{methods}"] = header(PARSE_REQUEST, 0, 0, 0, 0, methods) + wrk
    for kind in (5, 6, 7):
        out[f"request-type-{kind}"] = header(PARSE_REQUEST, 0, 0, 0, 0, 0, kind) + wrk
    for form_ in (5, 6, 7):
        out[f"request-form-{form_}"] = header(PARSE_REQUEST, 0, 0, 0, 0, 0, form_ << 5) + wrk

    for name, head in RESPONSES.items():
        out[f"response-{name}"] = header(PARSE_RESPONSE) + head
        out[f"response-head-{name}"] = header(PARSE_RESPONSE, 1) + head
        out[f"scan-response-{name}"] = header(SCAN_RESPONSE, 1, 0x8A) + head
        out[f"client-{name}"] = header(CLIENT_HEAD) + head
    nginx, redirect = RESPONSES["nginx"], RESPONSES["redirect"]
    for max_head in (0x00, 0x01, 0x02, 0x0F, 0x80, 0x84, 0x86, 0x87, 0x8A, 0x8E, 0x8F, 0x90):
        out[f"response-max-head-{max_head:02x}"] = header(PARSE_RESPONSE, 0, max_head, 1) + nginx
    out["response-max-head-keyword"] = header(PARSE_RESPONSE, 0, 0x8A, 3) + nginx
    for method in range(4, 10):
        out[f"response-method-{method}"] = header(PARSE_RESPONSE, method) + nginx
    for kind in (5, 6, 7):
        out[f"response-type-{kind}"] = header(PARSE_RESPONSE, 0, 0, 0, 0, 0, kind) + nginx
    out["response-keywords"] = header(PARSE_RESPONSE, 0, 0, 1, 0, 0, 5 << 5) + nginx
    # client_response_head: every flag, a rewrite (by keyword too), forged and edited heads.
    for flags in (0x00, 0x01, 0x10, 0x11, 0x66, 0x99, 0xAA, 0x0A, 0xA0):
        out[f"client-flags-{flags:02x}"] = header(CLIENT_HEAD, 0, 0, 0, 0, flags) + nginx
    for rewrite in range(8):
        out[f"client-rewrite-{rewrite}"] = (
            header(CLIENT_HEAD, 0, 0, 0, 0, 0, 1 | rewrite << 3) + redirect
        )
    out["client-rewrite-keyword"] = header(CLIENT_HEAD, 0, 0, 0, 0, 0, 3 | 1 << 3) + redirect
    for status in range(16):
        out[f"client-forged-status-{status}"] = header(CLIENT_HEAD, 10, status) + nginx
    for edit in range(1, 6):
        for value in (0, 3, 9):
            out[f"client-edit-{edit}-{value}"] = (
                header(CLIENT_HEAD, 0, 10, value, edit << 4 | value) + nginx
            )
    for kind in (13, 14, 0x1E, 0x2E, 0x3E, 15):
        out[f"client-resp-{kind:02x}"] = header(CLIENT_HEAD, kind) + nginx
    for form_ in (5, 6, 7):
        out[f"client-form-{form_}"] = header(CLIENT_HEAD, 0, 0, 0, 0, 0, 1, form_) + nginx

    for name, body in CHUNKED.items():
        out[f"chunked-{name}"] = header(CHUNKED_END) + body
        out[f"chunked-after-head-{name}"] = header(CHUNKED_END, 1) + body
    plain = CHUNKED["plain"]
    for start in range(4, 19):
        out[f"chunked-start-{start}"] = header(CHUNKED_END, 0, start) + plain
    for kind in (5, 6, 7):
        out[f"chunked-type-{kind}"] = header(CHUNKED_END, 0, 0, 0, 0, 0, kind) + plain

    lines = {
        "plain": (3, 6, b"GET/a?b=cHTTP/1.1"),
        "bare-version": (4, 1, b"POST/1.0"),
        "escapes": (3, 4, b'GET/"\\x\x00\xffHTTP/1.1'),
        "empty": (0, 0, b""),
    }
    for name, (cut1, cut2, payload) in lines.items():
        out[f"request-line-{name}"] = header(REQUEST_LINE, cut1, cut2) + payload
    for odd in range(3):
        for kind in (5, 6, 7):
            out[f"request-line-type-{odd}-{kind}"] = (
                header(REQUEST_LINE, 3, 6, odd, kind) + b"GET/a?b=cHTTP/1.1"
            )

    for index in range(BAD_BINDINGS):
        out[f"bind-{index}"] = header(BIND, index) + wrk
    return out


def main() -> None:
    shutil.rmtree(CORPUS, ignore_errors=True)
    CORPUS.mkdir()
    for name, data in sorted(seeds().items()):
        (CORPUS / name).write_bytes(data)
    print(f"seeds: {len(seeds())} inputs in {CORPUS}")


if __name__ == "__main__":
    main()
