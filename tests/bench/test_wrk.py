"""Reading wrk's report and building its command line."""

from __future__ import annotations

import pytest

from standby_bench.wrk import latency_ms, parse_wrk, wrk_argv

# The shape of `wrk --latency` output (wrk 4.x), numbers made up for the test.
WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8080/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.40us  301.22us  12.01ms   91.20%
    Req/Sec    61.77k     2.10k   65.02k    71.00%
  Latency Distribution
     50%  750.00us
     75%    0.90ms
     90%    1.10ms
     99%    2.05ms
  614523 requests in 10.00s, 70.33MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  61447.63
Transfer/sec:      7.03MB
"""


def test_parse_wrk_reads_rate_latency_and_errors() -> None:
    r = parse_wrk(WRK_OUTPUT)
    assert r.requests == 614523
    assert r.seconds == pytest.approx(10.0)
    assert r.requests_per_s == pytest.approx(61447.63)
    assert r.p50_ms == pytest.approx(0.75)
    assert r.p99_ms == pytest.approx(2.05)
    assert r.errors == 3 + 1 + 2 + 4


def test_parse_wrk_units_and_clean_run() -> None:
    text = (
        WRK_OUTPUT.replace("750.00us", "1.50s")
        .replace("2.05ms", "1.00m")
        .replace("  Socket errors: connect 0, read 3, write 1, timeout 2\n", "")
        .replace("  Non-2xx or 3xx responses: 4\n", "")
    )
    r = parse_wrk(text)
    assert r.p50_ms == pytest.approx(1500.0)
    assert r.p99_ms == pytest.approx(60000.0)
    assert r.errors == 0


def test_parse_wrk_percentiles_with_decimals() -> None:
    text = WRK_OUTPUT.replace("     50%", "     50.000%").replace("     99%", "     99.000%")
    r = parse_wrk(text)
    assert r.p50_ms == pytest.approx(0.75) and r.p99_ms == pytest.approx(2.05)


@pytest.mark.parametrize(
    "drop", ["     99%    2.05ms\n", "Requests/sec:  61447.63\n", "  614523 requests in"]
)
def test_parse_wrk_rejects_incomplete_output(drop: str) -> None:
    with pytest.raises(ValueError):
        parse_wrk(WRK_OUTPUT.replace(drop, ""))


@pytest.mark.parametrize(
    ("text", "ms"), [("812.40us", 0.8124), ("3ms", 3.0), ("2.5s", 2500.0), ("1h", 3.6e6)]
)
def test_latency_units(text: str, ms: float) -> None:
    assert latency_ms(text) == pytest.approx(ms)


@pytest.mark.parametrize("text", ["", "12", "1.5 ms", "3ns", "ms"])
def test_latency_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError):
        latency_ms(text)


def test_wrk_argv_keep_alive_and_close() -> None:
    keep = wrk_argv(8080, "/64k", 3, 50, close=False)
    assert keep[0] == "wrk" and "-c50" in keep and "-d3s" in keep and "--latency" in keep
    assert keep[-1] == "http://127.0.0.1:8080/64k"
    assert "Connection: close" not in keep
    close = wrk_argv(8080, "/", 3, 1, close=True)
    assert close[close.index("-H") + 1] == "Connection: close"
    assert "-t1" in close and "-c1" in close  # never more threads than connections
