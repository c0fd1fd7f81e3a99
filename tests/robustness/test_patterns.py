"""Pathological operator patterns against crafted maximum-size requests.

``HeadRequire "^X-Crafted: (a*)*b$"`` makes a backtracking engine take time exponential in
the length of a line of ``a``; a ``URL`` with an ambiguous alternation does the same with
the target. Patterns are matched by RE2 (config/pattern.py), so a request whose head is as
big as the proxy accepts is routed in time linear in its size. A back-reference pattern is
left to Python's ``re`` within a modelled budget: its worst case is measured here too, on
the shapes that cost most at their subject limit. Only answers are asserted; the times go
to the report (docs/robustness.md).
"""

from __future__ import annotations

import time

import pytest

from standby.config.pattern import BACKTRACK_BUDGET, compile_pattern
from standby.config.posix_regex import compile_ere
from standby.http1.limits import MAX_HEAD, MAX_HEADER_COUNT, MAX_HEADER_LINE, MAX_URI
from tests.robustness.misbehaving import recorded
from tests.support.backend import Backend
from tests.support.harness import Client, ProxyThread, config_with_ports

pytestmark = pytest.mark.timeout(300)

REQUESTS = 5  # per case: the worst of a few, on a noisy shared machine
# What Python's re took before, measured on a line this long (it doubles with each byte).
BEFORE_LENGTH = 20

HEADER_PATTERN = "^X-Crafted: (a*)*b$"
URL_PATTERN = "^/(a|aa)*c$"
# Back-reference shapes, each searched at its own subject limit: their degrees of choice
# (posix_regex.Backtracking) span what the budget allows.
BACKTRACKING_SHAPES = [
    "(.*)\\1x",
    "(.*)(.*)\\1\\2x",
    "(.*)(.*)(.*)\\1\\2\\3x",
    "(a|aa)*\\1c",
    "(a*)*\\1b",
    "([a-z]*)[a-z]*\\1x",
]

CONFIG = """\
ListenHTTP
  Address 127.0.0.1
  Port {{L0}}
  Service
    HeadRequire "{header}"
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
  Service
    URL "{url}"
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
  Service
    BackEnd
      Address 127.0.0.1
      Port {port}
    End
  End
End
"""


def command(test: str) -> str:
    return f"python -m pytest tests/robustness/test_patterns.py::{test}"


def crafted_head(target: bytes, line: bytes) -> bytes:
    """A GET for ``target`` with as many copies of the header ``line`` as the limits allow
    (MAX_HEAD bytes, MAX_HEADER_COUNT lines), the last one cut to fill the head. The Host
    has none of the letters that end the patterns here (x, b, c): it matches none."""
    head = b"GET " + target + b" HTTP/1.1\r\nHost: www.test.org\r\n"
    for _ in range(MAX_HEADER_COUNT - 1):
        room = MAX_HEAD - len(head) - 4  # this line's CRLF and the empty line's
        if room < len(line) // 2:
            break
        head += line[:room] + b"\r\n"
    return head + b"\r\n"


def worst_request(port: int, head: bytes) -> tuple[float, int]:
    """The slowest of REQUESTS answers to ``head`` (seconds), and the last status."""
    worst = 0.0
    status = 0
    for _ in range(REQUESTS):
        with Client(port) as client:
            began = time.perf_counter()
            client.send(head)
            status = client.response().status
            worst = max(worst, time.perf_counter() - began)
    return worst, status


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def test_pathological_patterns_on_maximum_size_heads() -> None:
    # Each holds the fixed parts of its pattern (so RE2 is called, not skipped by the
    # search for them), and fails only at its last byte.
    header_line = b"X-Crafted: " + b"a" * (MAX_HEADER_LINE - 16) + b"b!"
    target = b"/" + b"a" * (MAX_URI - 3) + b"c!"
    header_head = crafted_head(b"/", header_line)
    url_head = crafted_head(target, b"X-Pad: " + b"a" * (MAX_HEADER_LINE - 16))
    with recorded(
        "pathological patterns: maximum-size heads",
        command("test_pathological_patterns_on_maximum_size_heads"),
        notes=f"HeadRequire {HEADER_PATTERN!r} and URL {URL_PATTERN!r}, RE2; "
        f"{REQUESTS} requests each, worst time",
    ) as figures, Backend("echo") as backend:  # fmt: skip
        config, sockets = config_with_ports(
            CONFIG.format(header=HEADER_PATTERN, url=URL_PATTERN, port=backend.port)
        )
        with ProxyThread(config, sockets) as proxy:
            header_worst, header_status = worst_request(proxy.port, header_head)
            url_worst, url_status = worst_request(proxy.port, url_head)
        before = compile_ere(HEADER_PATTERN, ignore_case=True)
        subject = "X-Crafted: " + "a" * BEFORE_LENGTH
        began = time.perf_counter()
        assert before.search(subject) is None
        python_time = time.perf_counter() - began
        figures.update(
            {
                "head bytes": len(header_head),
                "HeadRequire: worst request ms": _ms(header_worst),
                "URL: target bytes": len(target),
                "URL: worst request ms": _ms(url_worst),
                f"before (Python re), one {BEFORE_LENGTH + 11}-byte line, ms": _ms(python_time),
            }
        )
        # Answered, by the catch-all service: neither condition holds.
        assert header_status == 200
        assert url_status == 200


def test_back_reference_bound() -> None:
    with recorded(
        "pathological patterns: back-reference bound",
        command("test_back_reference_bound"),
        notes=f"Python re within {BACKTRACK_BUDGET:.0e} modelled steps per search; shapes "
        + ", ".join(repr(s) for s in BACKTRACKING_SHAPES),
    ) as figures:
        worst = (0.0, "", 0)
        for shape in BACKTRACKING_SHAPES:
            pattern = compile_pattern(shape)
            assert not pattern.linear
            subject = b"a" * pattern.limit
            began = time.perf_counter()
            pattern.search(subject, False)
            took = time.perf_counter() - began
            worst = max(worst, (took, shape, pattern.limit))
        figures.update(
            {
                "worst search ms": _ms(worst[0]),
                "its shape": worst[1],
                "its subject limit, bytes": worst[2],
            }
        )
        # Through the proxy: a HeadRequire of the worst shape, a head of lines at its limit.
        limit = compile_pattern(worst[1]).limit
        line = b"Y: " + b"a" * max(limit - 3, 1)  # no x: the shapes end in one
        head = crafted_head(b"/", line)
        with Backend("echo") as backend:
            text = CONFIG.format(header=worst[1], url=URL_PATTERN, port=backend.port)
            config, sockets = config_with_ports(text)
            with ProxyThread(config, sockets) as proxy:
                request_worst, status = worst_request(proxy.port, head)
        figures["through the proxy: worst request ms"] = _ms(request_worst)
        figures["head bytes"] = len(head)
        assert status == 200
