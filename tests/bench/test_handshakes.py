"""bench/standby_bench/handshakes.py: reading s_time's per-connection marks."""

from __future__ import annotations

import pytest

from standby_bench.handshakes import HandshakeCount, parse_s_time, s_time_argv

NEW_RUN = (
    "Collecting connection statistics for 3 seconds\n"
    "****************\n**********\n\n"
    "26 connections in 0.02s; 1300.00 connections/user sec, bytes read 3770\n"
    "26 connections in 3 real seconds, 145 bytes read per connection\n"
)
REUSE_RUN = (
    "\n\nNow timing with session id reuse.\nstarting\n"
    "rrrrrrrrrrrrrrrrrrrr*rr\n\n"
    "23 connections in 0.01s; 2300.00 connections/user sec, bytes read 3335\n"
    "23 connections in 3 real seconds, 145 bytes read per connection\n"
)


def test_full_handshakes_are_counted() -> None:
    assert parse_s_time(NEW_RUN) == HandshakeCount(full=26, resumed=0)


def test_resumed_and_full_are_told_apart() -> None:
    count = parse_s_time(REUSE_RUN)
    assert count == HandshakeCount(full=1, resumed=22)
    assert count.connections == 23
    assert count + count == HandshakeCount(2, 44)


def test_output_without_a_summary_is_refused() -> None:
    with pytest.raises(ValueError, match="summary"):
        parse_s_time("Collecting connection statistics for 3 seconds\n***\n")


def test_the_command_line_is_loopback_and_fetches_a_page() -> None:
    argv = s_time_argv(8443, 3, resume=True)
    assert argv[:2] == ["openssl", "s_time"] and "-reuse" in argv and "-new" not in argv
    assert argv[argv.index("-connect") + 1] == "127.0.0.1:8443"
    assert argv[argv.index("-www") + 1] == "/"
    assert "-new" in s_time_argv(8443, 3, resume=False)
