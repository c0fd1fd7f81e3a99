"""TBF (Pound 4's token bucket filter condition) on real traffic: the manual's example (a
bucket per repository, the requests beyond the burst served by the next service), the
negated form with the client's address as key, buckets kept across a reload, and one
bucket for every worker of the installed program."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import pytest
from tests.process.harness import running_standby
from tests.support.backend import Backend
from tests.support.harness import ProxyThread, config_with_ports, free_port, get, wait_until

from standby.config import load_config

pytestmark = pytest.mark.timeout(180)

DEADLINE = 60.0  # generous: forks on two noisy shared cores
# A rate no test outlives: every token a test sees is from the burst.
SLOW = "1/600s"

GIT = """
ListenHTTP
  Address 127.0.0.1
  Port {port}
  Service "git"
    Path -re "^/git/([^/]+)"
    TBF "$1" {rate} 3
    BackEnd
      Address 127.0.0.1
      Port {ok}
    End
  End
  Service "block"
    Path -beg "/git/"
    BackEnd
      Address 127.0.0.1
      Port {limited}
    End
  End
End
"""


def bodies(port: int, target: str, count: int, method: str = "GET") -> list[bytes]:
    body = b"x" if method == "POST" else b""
    return [get(port, target, method=method, body=body).body for _ in range(count)]


def test_a_bucket_per_repository_then_the_next_service() -> None:
    with Backend("ok") as ok, Backend("limited") as limited:
        text = GIT.format(port="{L0}", rate=SLOW, ok=ok.port, limited=limited.port)
        config, socks = config_with_ports(text)
        with ProxyThread(config, socks) as proxy:
            # A GET goes through the fast lane, a POST through an Exchange: one bucket.
            assert bodies(proxy.port, "/git/one/info", 2) == [b"ok"] * 2
            assert bodies(proxy.port, "/git/one/push", 2, "POST") == [b"ok", b"limited"]
            assert bodies(proxy.port, "/git/one/info", 2) == [b"limited"] * 2
            assert bodies(proxy.port, "/git/two/info", 4) == [b"ok"] * 3 + [b"limited"]


def test_not_tbf_keyed_by_client_address() -> None:
    text = """
ListenHTTP
  Address 127.0.0.1
  Port {L0}
  Service "rate-limit"
    Path -beg "/api"
    Not TBF "%[remoteip]" 1/600s 2
    BackEnd
      Address 127.0.0.1
      Port {limited}
    End
  End
  Service
    BackEnd
      Address 127.0.0.1
      Port {ok}
    End
  End
End
"""
    with Backend("ok") as ok, Backend("limited") as limited:
        config, socks = config_with_ports(
            text.replace("{limited}", str(limited.port)).replace("{ok}", str(ok.port))
        )
        with ProxyThread(config, socks) as proxy:
            assert bodies(proxy.port, "/api/v1", 4) == [b"ok", b"ok", b"limited", b"limited"]
            assert bodies(proxy.port, "/other", 2) == [b"ok"] * 2  # never reaches the TBF


def test_a_reload_keeps_the_buckets(tmp_path: Path) -> None:
    path = tmp_path / "pound.cfg"
    with Backend("ok") as ok, Backend("limited") as limited:
        _, socks = config_with_ports(GIT.format(port="{L0}", rate=SLOW, ok=1, limited=1))
        port = socks[0].getsockname()[1]
        path.write_text(GIT.format(port=port, rate=SLOW, ok=ok.port, limited=limited.port))
        with ProxyThread(load_config(str(path)), socks) as proxy:
            assert bodies(port, "/git/one/", 3) == [b"ok"] * 3
            assert proxy.proxy is not None and proxy.loop is not None
            done = asyncio.run_coroutine_threadsafe(proxy.proxy.reload_from_source(), proxy.loop)
            assert done.result(DEADLINE) == (True, "reloaded")
            assert bodies(port, "/git/one/", 1) == [b"limited"]
            # A changed statement is another bucket table: it starts full.
            path.write_text(GIT.format(port=port, rate="1/599s", ok=ok.port, limited=limited.port))
            done = asyncio.run_coroutine_threadsafe(proxy.proxy.reload_from_source(), proxy.loop)
            assert done.result(DEADLINE) == (True, "reloaded")
            assert bodies(port, "/git/one/", 4) == [b"ok"] * 3 + [b"limited"]


def test_every_worker_shares_the_buckets(tmp_path: Path) -> None:
    port = free_port()
    with Backend("ok") as ok, Backend("limited") as limited:
        config = tmp_path / "pound.cfg"
        text = GIT.format(port=port, rate=SLOW, ok=ok.port, limited=limited.port)
        config.write_text("LogLevel 1\nThreads 64\n" + text)
        with running_standby(config, 3, deadline=DEADLINE) as running:
            # Pound's Threads is accepted; the warning is in the start-up log.
            assert "pound.cfg:2.1: warning: Threads is ignored: standby runs" in running.stderr()
            # A connection per request: the kernel spreads them over the three workers.
            answers = bodies(port, "/git/one/x", 12)
            assert answers == [b"ok"] * 3 + [b"limited"] * 9

            # The requests did meet more than one worker (the access log says which).
            def logged() -> list[str]:
                return [line for line in list(running.lines) if "GET /git/one/x" in line]

            wait_until(lambda: len(logged()) == 12, DEADLINE, "the access log lines")
            pids = {m.group(1) for line in logged() if (m := re.search(r"\[(\d+)\]", line))}
            assert len(pids) >= 2, logged()


def test_a_redirect_expanding_back_references_takes_one_token() -> None:
    # The Redirect's $1 evaluates the service's conditions again: the same request, so
    # the TBF answers as it did without taking a second token.
    text = """
ListenHTTP
  Address 127.0.0.1
  Port {L0}
  Service
    URL "^/r/(.*)"
    TBF "all" 1/600s 2
    Redirect "http://www.example.org/new/$1"
  End
  Service
    BackEnd
      Address 127.0.0.1
      Port PORT
    End
  End
End
"""
    with Backend("limited") as limited:
        config, socks = config_with_ports(text.replace("PORT", str(limited.port)))
        with ProxyThread(config, socks) as proxy:
            first, second, third = (get(proxy.port, f"/r/{n}") for n in "abc")
            assert (first.status, first.header(b"location")) == (
                302,
                b"http://www.example.org/new/a",
            )
            assert second.header(b"location") == b"http://www.example.org/new/b"
            assert (third.status, third.body) == (200, b"limited")


def test_workers_keep_the_buckets_across_a_reload(tmp_path: Path) -> None:
    port = free_port()
    with Backend("ok") as ok, Backend("limited") as limited:
        config = tmp_path / "pound.cfg"
        config.write_text(GIT.format(port=port, rate=SLOW, ok=ok.port, limited=limited.port))
        with running_standby(config, 2, deadline=DEADLINE) as running:
            assert bodies(port, "/git/one/x", 4) == [b"ok"] * 3 + [b"limited"]
            running.signal(signal.SIGHUP)  # the same statements: the same tables
            wait_until(lambda: "]: configuration reloaded" in running.stderr(), DEADLINE, "reload")
            assert bodies(port, "/git/one/x", 2) == [b"limited"] * 2
            assert bodies(port, "/git/two/x", 6) == [b"ok"] * 3 + [b"limited"] * 3
