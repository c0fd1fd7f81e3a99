"""Sans-IO HTTP/1.1 for a proxy: bytes in, decisions out.

Nothing here does I/O. The shell (``standby.server``, ``standby.upstream``) feeds bytes and
writes what these functions return. The hot path forwards header blocks as the bytes they
arrived in and splices in only what changes.

Public API (the contract with the shell):

- ``HttpError(status, reason)``: a request or response that must be refused; ``status``
  is what the client gets (400, 405, 413, 414, 431, 501, 505 for requests, 502 for a bad
  response), ``reason`` is for the log only.
- ``Limits``: named size limits for request heads (defaults ``MAX_*`` in ``limits``).
- ``parse_request_head(buf, limits, methods) -> (RequestHead, consumed) | None``.
- ``RequestHead``: method, target, version, http11, raw, host, body/content_length
  (``BODY_NONE``, ``BODY_LENGTH``, ``BODY_CHUNKED``; ``Content-Length: 0`` is BODY_NONE),
  keep_alive, upgrade, expect_continue, ``header(name)``, ``header_lines()``, ``path``.
- ``forward_request_head(head, peer, proto, port) -> bytes``: the head to send upstream;
  ``forward_head(head, Forwarding(peer, proto, port))`` is the same with the added lines
  made once per client connection.
- ``parse_response_head(buf, request_method, max_head) -> (ResponseHead, consumed) | None``;
  ``ResponseHead`` adds ``BODY_UNTIL_CLOSE``; every problem is HttpError(502).
- ``client_response_head(resp, keep_alive, client_http11, location_rewrite=None) -> bytes``.
- ``LengthBody(n)``, ``ChunkedBody(error_status=400, max_body=0)``, ``UntilCloseBody()``:
  pass-through body framers, ``feed(data) -> (forward, after)``, ``done``, ``received``.
- ``chunked_end(data, start) -> int``: where a chunked body ends within ``data``, or -1.
- ``error_response(status, body=, close=, extra=)``, ``redirect_response(code, url, close=)``:
  complete responses made by the proxy itself.
"""

from standby.http1.body import (
    MAX_CHUNK_LINE,
    MAX_CHUNK_SIZE_DIGITS,
    MAX_TRAILER,
    ChunkedBody,
    LengthBody,
    UntilCloseBody,
    chunked_end,
)
from standby.http1.errors import HttpError
from standby.http1.limits import (
    MAX_HEAD,
    MAX_HEADER_COUNT,
    MAX_HEADER_LINE,
    MAX_REQUEST_LINE,
    MAX_URI,
    Limits,
)
from standby.http1.messages import error_response, reason_phrase, redirect_response
from standby.http1.request import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    Forwarding,
    RequestHead,
    forward_head,
    forward_request_head,
    parse_request_head,
    speedups_loaded,
)
from standby.http1.response import (
    MAX_RESPONSE_HEAD,
    ResponseHead,
    client_response_head,
    parse_response_head,
)

__all__ = [
    "BODY_CHUNKED",
    "BODY_LENGTH",
    "BODY_NONE",
    "BODY_UNTIL_CLOSE",
    "MAX_CHUNK_LINE",
    "MAX_CHUNK_SIZE_DIGITS",
    "MAX_HEAD",
    "MAX_HEADER_COUNT",
    "MAX_HEADER_LINE",
    "MAX_REQUEST_LINE",
    "MAX_RESPONSE_HEAD",
    "MAX_TRAILER",
    "MAX_URI",
    "ChunkedBody",
    "Forwarding",
    "HttpError",
    "LengthBody",
    "Limits",
    "RequestHead",
    "ResponseHead",
    "UntilCloseBody",
    "chunked_end",
    "client_response_head",
    "error_response",
    "forward_head",
    "forward_request_head",
    "parse_request_head",
    "parse_response_head",
    "reason_phrase",
    "redirect_response",
    "speedups_loaded",
]
