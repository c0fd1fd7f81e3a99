"""OpenMetrics rendering: every line checked against the text format, and the numbers."""

from __future__ import annotations

import math
import re
from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from standby.control.api import metrics_snapshot
from standby.observe.metrics import (
    LATENCY_BUCKETS,
    BackendSample,
    LatencyHistogram,
    ListenerSample,
    MetricsSnapshot,
    ServiceSample,
    render_openmetrics,
)
from tests.control.fakes import NOW, RICH_CFG, FakeView, busy_seed_view, load, with_control

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_VALUE = r"-?(?:[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?|\+Inf|-Inf|NaN)"
_SAMPLE = re.compile(rf"({_NAME})(\{{{_LABEL}(?:,{_LABEL})*\}})? ({_VALUE})")
_TYPE = re.compile(
    rf"# TYPE ({_NAME}) (counter|gauge|histogram|gaugehistogram|stateset|info|summary|unknown)"
)
_HELP = re.compile(rf"# HELP ({_NAME}) (?:[^\\\n]|\\[\\n])*")
_UNIT = re.compile(rf"# UNIT ({_NAME}) ([a-zA-Z0-9_]+)")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "stateset": ("",),
    "unknown": ("",),
}
_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_labels(text: str | None) -> tuple[tuple[str, str], ...]:
    return tuple(_LABEL_PAIR.findall(text or ""))


def validate(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Check ``text`` line by line as OpenMetrics; return the samples by family."""
    assert text.endswith("# EOF\n"), "must end with # EOF and a newline"
    lines = text[:-1].split("\n")
    assert lines.count("# EOF") == 1
    families: dict[str, str] = {}
    samples: dict[str, list[tuple[str, dict[str, str], float]]] = defaultdict(list)
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    current: str | None = None
    finished: set[str] = set()
    for n, line in enumerate(lines[:-1], 1):
        where = f"line {n}: {line!r}"
        if m := _TYPE.fullmatch(line):
            name, kind = m.groups()
            assert name not in families, f"{where}: family declared twice"
            if current is not None:
                finished.add(current)
            families[name] = kind
            current = name
            continue
        if m := _HELP.fullmatch(line):
            assert m.group(1) == current, f"{where}: HELP for another family"
            continue
        if m := _UNIT.fullmatch(line):
            assert current is not None and m.group(1) == current, f"{where}: UNIT misplaced"
            assert current.endswith("_" + m.group(2)), f"{where}: name must end with the unit"
            continue
        m = _SAMPLE.fullmatch(line)
        assert m is not None, f"{where}: not a sample line"
        name, labels_text, value_text = m.groups()
        assert current is not None, f"{where}: sample before any TYPE"
        kind = families[current]
        assert any(name == current + s for s in _SUFFIXES[kind]), f"{where}: not in {current}"
        labels = parse_labels(labels_text)
        names = [k for k, _ in labels]
        assert len(names) == len(set(names)), f"{where}: duplicate label"
        key = (name, labels)
        assert key not in seen, f"{where}: duplicate sample"
        seen.add(key)
        value = float(value_text.replace("Inf", "inf"))
        if kind in ("counter", "histogram"):
            assert value >= 0, f"{where}: negative counter"
        if kind == "info":
            assert value == 1, f"{where}: info value must be 1"
        samples[current].append((name, dict(labels), value))
    for family, kind in families.items():
        if kind == "histogram":
            check_histogram(family, samples[family])
    return samples


def check_histogram(family: str, rows: list[tuple[str, dict[str, str], float]]) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = defaultdict(list)
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for name, labels, value in rows:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if name.endswith("_bucket"):
            series[key].append((float(labels["le"].replace("Inf", "inf")), value))
        elif name.endswith("_count"):
            counts[key] = value
    assert set(series) == set(counts), f"{family}: buckets without a count or the reverse"
    for key, buckets in series.items():
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds) and math.isinf(bounds[-1]), f"{family}: bucket order"
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{family}: buckets not cumulative"
        assert values[-1] == counts[key], f"{family}: +Inf bucket differs from _count"


Samples = dict[str, list[tuple[str, dict[str, str], float]]]


def sample(samples: Samples, family: str, suffix: str | None = None, **labels: str) -> float:
    """The one sample of ``family`` with exactly ``labels`` (and name family+suffix)."""
    found = [
        v
        for name, lab, v in samples[family]
        if lab == labels and (suffix is None or name == family + suffix)
    ]
    assert len(found) == 1, f"{family} {labels}: {len(found)} samples"
    return found[0]


def test_seed_metrics_are_valid_and_carry_the_numbers() -> None:
    text = render_openmetrics(metrics_snapshot(busy_seed_view(), NOW))
    s = validate(text)
    primary = {"listener": "0", "service": "0", "backend": "0"}
    standby = {"listener": "0", "service": "0", "backend": "1"}
    assert sample(s, "pound_uptime") == 3725500
    assert sample(s, "pound_backend_state", **primary, state="alive") == 1
    assert sample(s, "pound_backend_requests", **primary) == 1200
    assert sample(s, "pound_backends", listener="0", service="0", state="total") == 2
    assert sample(s, "standby_backend_in_flight", **primary) == 3
    assert sample(s, "standby_backend_responses", **primary, status="503") == 45
    assert sample(s, "standby_backend_failovers", **primary) == 45
    assert sample(s, "standby_backend_resends", **standby) == 45
    assert sample(s, "standby_backend_health_transitions", **primary) == 2
    assert sample(s, "standby_backend_emergency", **standby) == 1
    # Observed: 0.0004, 0.003, 0.003, 0.02, 0.7, 20.0 seconds.
    expected = {"0.001": 1, "0.0025": 1, "0.005": 3, "0.025": 4, "1.0": 5, "15.0": 5, "+Inf": 6}
    for le, n in expected.items():
        assert sample(s, "standby_backend_latency_seconds", **primary, le=le) == n
    assert sample(s, "standby_backend_latency_seconds", "_count", **primary) == 6
    assert math.isclose(sample(s, "standby_backend_latency_seconds", "_sum", **primary), 20.7264)
    assert (
        'pound_listener_info{listener="0",name="",address="127.0.0.2:80",protocol="http"} 1' in text
    )


def test_control_listener_and_global_services() -> None:
    view = FakeView(with_control(load(RICH_CFG), "/run/standby.sock", 0))
    view.listeners[0] = False
    s = validate(render_openmetrics(metrics_snapshot(view, NOW)))
    assert sample(s, "pound_listener_enabled", listener="0") == 1  # the control socket
    assert sample(s, "pound_listener_enabled", listener="1") == 0  # config listener 0
    assert sample(s, "pound_service", listener="1", service="0", name="site") == 1
    # Global services carry no listener label, as in Pound.
    assert sample(s, "pound_service_enabled", service="0") == 1
    assert sample(s, "pound_backend_requests", service="0", backend="0") == 0


def test_label_values_are_escaped() -> None:
    snap = MetricsSnapshot(
        uptime=1.0,
        workers=1,
        listeners=[ListenerSample(0, 'a "quoted"\\ name\n', "/tmp/x.sock", "http", True)],
    )
    text = render_openmetrics(snap)
    validate(text)
    assert r'name="a \"quoted\"\\ name\n"' in text


def test_histogram_bounds_are_inclusive() -> None:
    h = LatencyHistogram()
    for bound in LATENCY_BUCKETS:
        h.observe(bound)
    h.observe(-1.0)  # a clock step counts as zero
    cumulative = h.cumulative()
    assert cumulative[0] == (LATENCY_BUCKETS[0], 2)
    assert [n for _, n in cumulative] == [*range(2, len(LATENCY_BUCKETS) + 2), h.count]
    assert h.total == sum(LATENCY_BUCKETS)


@given(st.lists(st.floats(min_value=-1.0, max_value=100.0), max_size=50))
def test_histogram_counts_every_observation_once(values: list[float]) -> None:
    h = LatencyHistogram()
    for v in values:
        h.observe(v)
    cumulative = h.cumulative()
    assert cumulative[-1] == (math.inf, len(values))
    for bound, n in cumulative:
        assert n == sum(1 for v in values if max(v, 0.0) <= bound)
    other = LatencyHistogram()
    other.observe(0.01)
    other.merge(h)
    assert other.count == len(values) + 1


_text = st.text(max_size=12)  # any Unicode but surrogates: quotes, backslashes, newlines


@st.composite
def snapshots(draw: st.DrawFn) -> MetricsSnapshot:
    listeners = draw(st.integers(0, 3))
    services = []
    backends = []
    for listener in [*range(listeners), None]:
        for s in range(draw(st.integers(0, 2))):
            services.append(ServiceSample(listener, s, draw(_text), draw(st.booleans())))
            for b in range(draw(st.integers(0, 3))):
                latency = None
                if draw(st.booleans()):
                    latency = LatencyHistogram()
                    for v in draw(st.lists(st.floats(0, 60), max_size=5)):
                        latency.observe(v)
                backends.append(
                    BackendSample(
                        listener,
                        s,
                        b,
                        *draw(st.tuples(st.booleans(), st.booleans(), st.booleans())),
                        emergency=draw(st.booleans()),
                        in_flight=draw(st.integers(0, 100)),
                        requests=draw(st.integers(0, 10**9)),
                        statuses=draw(st.dictionaries(st.integers(100, 599), st.integers(0, 99))),
                        latency=latency,
                    )
                )
    return MetricsSnapshot(
        uptime=draw(st.floats(0, 1e7)),
        workers=draw(st.integers(1, 64)),
        listeners=[
            ListenerSample(i, draw(_text), draw(_text), "http", draw(st.booleans()))
            for i in range(listeners)
        ],
        services=services,
        backends=backends,
    )


@given(snapshots())
def test_any_snapshot_renders_valid_openmetrics(snap: MetricsSnapshot) -> None:
    samples = validate(render_openmetrics(snap))
    assert len(samples["pound_backend_state"]) == 2 * len(snap.backends)
