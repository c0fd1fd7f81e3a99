"""Availability beyond Pound (issue 4): a primary that answers 503, resets or hangs loses
no GET; POSTs are not resent; the read-only emergency keeps writes off the mirror."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.backend import Backend
from tests.support.configs import primary_and_emergency
from tests.support.harness import ProxyThread, config_with_ports, get, wait_until
from tests.support.load import Load

PRIMARY = "200 b'primary'"
STANDBY = "200 b'standby'"


@pytest.fixture
def pair() -> Iterator[tuple[Backend, Backend]]:
    with Backend("primary") as primary, Backend("standby") as standby:
        yield primary, standby


def start(pair: tuple[Backend, Backend], service_extra: str = "") -> ProxyThread:
    primary, standby = pair
    text = primary_and_emergency(
        primary.port,
        standby.port,
        global_extra="Alive 1",
        listener_extra="xHTTP 1",
        service_extra=service_extra,
        backend_extra="TimeOut 1",
    )
    config, socks = config_with_ports(text)
    return ProxyThread(config, socks).start()


def test_primary_answering_503_loses_no_get_and_comes_back_after_rise(
    pair: tuple[Backend, Backend],
) -> None:
    primary, _standby = pair
    proxy = start(pair)
    try:
        with Load(proxy.port, 10, pace=0.01) as load:
            wait_until(lambda: load.count(PRIMARY) >= 100, what="load on primary")
            primary.mode = "503"  # WordPress upgrade begins
            seen = load.count(STANDBY)
            wait_until(lambda: load.count(STANDBY) >= seen + 300, what="standby serving")
            # Marked down after Fall answers: the standby serves without asking it first.
            asked = primary.requests
            wait_until(lambda: load.count(STANDBY) >= seen + 600, what="more standby")
            probes_meanwhile = primary.requests - asked
            primary.mode = "ok"  # upgrade finished
            back = load.count(PRIMARY)
            wait_until(lambda: load.count(PRIMARY) >= back + 100, what="primary back")
        assert load.failures((PRIMARY, STANDBY)) == {}, load.outcomes
        # Only the health probes (one per Alive) reached the sick primary once it was down.
        assert probes_meanwhile <= 10
    finally:
        proxy.stop()


@pytest.mark.parametrize("mode", ["reset", "hang"])
def test_primary_resetting_or_hanging_loses_no_get(
    pair: tuple[Backend, Backend], mode: str
) -> None:
    primary, _standby = pair
    proxy = start(pair)
    try:
        with Load(proxy.port, 10, pace=0.01) as load:
            wait_until(lambda: load.count(PRIMARY) >= 100, what="load on primary")
            primary.mode = mode
            seen = load.count(STANDBY)
            wait_until(lambda: load.count(STANDBY) >= seen + 200, what="standby serving")
        assert load.failures((PRIMARY, STANDBY)) == {}, load.outcomes
    finally:
        proxy.stop()


@pytest.mark.parametrize("mode", ["reset", "hang"])
def test_posts_are_not_resent(pair: tuple[Backend, Backend], mode: str) -> None:
    primary, standby = pair
    primary.mode = mode
    proxy = start(pair)
    try:
        r = get(proxy.port, "/", method="POST", body=b"order=1")
        assert r.status in (502, 504)
        assert standby.requests == 0
        assert primary.requests == 1
    finally:
        proxy.stop()


def test_post_with_resend_unsafe_is_resent(pair: tuple[Backend, Backend]) -> None:
    primary, standby = pair
    primary.mode = "reset"
    proxy = start(pair, "ResendUnsafe 1")
    try:
        r = get(proxy.port, "/echo", method="POST", body=b"order=1")
        assert r.status == 200 and r.header(b"x-backend") == b"standby"
        assert r.body.endswith(b"\r\n\r\n")  # the echo of the head; the body was resent too
        assert standby.heads[-1].startswith(b"POST /echo HTTP/1.1")
    finally:
        proxy.stop()


def test_when_every_backend_answers_503_the_client_gets_the_last_answer(
    pair: tuple[Backend, Backend],
) -> None:
    primary, standby = pair
    primary.mode = standby.mode = "503"
    proxy = start(pair)
    try:
        r = get(proxy.port)
        assert r.status == 503
        assert r.header(b"retry-after") == b"600"  # WordPress's own, unchanged
        assert r.body == b"Briefly unavailable for scheduled maintenance."
    finally:
        proxy.stop()


def test_read_only_emergency_refuses_writes_on_the_standby(pair: tuple[Backend, Backend]) -> None:
    primary, standby = pair
    primary.stop()  # down for maintenance: refused connections, marked dead at once
    proxy = start(pair, "ReadOnlyEmergency")
    try:
        assert get(proxy.port).header(b"x-backend") == b"standby"  # reads are fine
        before = standby.requests
        r = get(proxy.port, "/", method="POST", body=b"comment=hi")
        assert r.status == 503
        assert r.header(b"retry-after") is not None
        assert standby.requests == before  # the write never reached the mirror
    finally:
        proxy.stop()


def test_stale_fallback_serves_seen_pages_with_age_when_everything_is_down(
    pair: tuple[Backend, Backend], tmp_path: object
) -> None:
    primary, standby = pair
    proxy = start(pair, "StaleFallback\n      Size 1m\n    End")
    try:
        assert get(proxy.port, "/size/100").status == 200
        assert get(proxy.port, "/robots.txt").status == 200
        primary.stop()
        standby.stop()
        for target, size in (("/size/100", 100), ("/robots.txt", len(b"primary"))):
            r = get(proxy.port, target)
            assert r.status == 200, target
            assert len(r.body) == size
            assert r.header(b"age") is not None
        r = get(proxy.port, "/never-seen")
        assert r.status == 503
        assert r.header(b"retry-after") is not None
    finally:
        proxy.stop()
