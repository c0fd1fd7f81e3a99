"""The status page: every listener, service and backend at a glance (pure).

``status_json(view, now)`` reads the same ``RuntimeView`` as the control API and the
metrics (one ``BackendState`` per backend, nothing counted again) and shapes it for a
person: state (up, down, draining, disabled), since when and why with the last changes,
requests, errors (5xx answers), failovers and latency. ``render_html`` makes the page from
that document, server-rendered and refreshed by a ``<meta http-equiv="refresh">`` inside
``<noscript>``; with JavaScript, ``SCRIPT`` fetches the document every ``POLL_SECONDS``
and rebuilds the tables in place. The script and the style are resources of their own
(``status.js``, ``status.css``, beside the page), so the page needs nothing inline and
keeps a ``default-src 'self'`` policy (``PAGE_HEADERS``).

Nothing secret is shown: no session keys (they are cookies), no credentials, no header
values, no error page text; names come from the configuration and are escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from standby.balance.balancer import Balancer
from standby.control.view import (
    BackendState,
    ObjectPath,
    RuntimeView,
    all_backends,
    backend_address,
    backend_state_word,
    listener_address,
)
from standby.model import BackendKind, BackendSpec, ServiceSpec

Json = dict[str, Any]

# Without JavaScript the browser reloads the page this often; with it, the script asks for
# the document this often (a glance page, not a monitor: a few seconds is live enough and
# costs the supervisor one reading of every worker's figures per poll).
REFRESH_SECONDS: Final = 5
POLL_SECONDS: Final = 2
# The page's resources, named relative to the page so that a Status service answers them
# under whatever path its URL pattern gives the page.
JSON_NAME: Final = "status.json"
SCRIPT_NAME: Final = "status.js"
STYLE_NAME: Final = "status.css"
HTML_TYPE: Final = "text/html; charset=utf-8"
SCRIPT_TYPE: Final = "text/javascript; charset=utf-8"
STYLE_TYPE: Final = "text/css; charset=utf-8"
# The page loads only its own script and style and fetches only its own document; it may
# not be framed (clickjacking) nor send a referrer.
PAGE_HEADERS: Final = (
    (
        "Content-Security-Policy",
        "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
# What the page and its script and style are sent with (the document is the API's JSON).
_NOSNIFF: Final = (PAGE_HEADERS[1],)
HEADERS_BY_TYPE: Final = {
    HTML_TYPE: PAGE_HEADERS,
    SCRIPT_TYPE: _NOSNIFF,
    STYLE_TYPE: _NOSNIFF,
}
# The control API's names of the page and its resources (``/status``, ``/status.json``...).
RESOURCES: Final = ("status", JSON_NAME, SCRIPT_NAME, STYLE_NAME)


def resource_of(path: str) -> str:
    """Which resource a Status service's request path asks for, by its last segment:
    ``….json``, ``….js``, ``….css``, else the page."""
    last = path.partition("?")[0].rpartition("/")[2]
    for name in (JSON_NAME, SCRIPT_NAME, STYLE_NAME):
        if last.endswith(name[len("status") :]):
            return name
    return "status"


# The quantile shown for latency: the bucket bound under which this share of responses fell.
LATENCY_QUANTILE: Final = 0.95
SERVER_ERROR: Final = 500  # statuses from here on count as errors


def _time(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _States:
    """A ``HealthView`` over the states read from the view, for ``Balancer.candidates``:
    which backends serve is the balancer's own rule, not a copy of it."""

    version = 0

    def __init__(self, states: dict[tuple[str, str, int | None], BackendState]) -> None:
        self._states = states

    def is_alive(self, spec: BackendSpec) -> bool:
        return self._states[spec.identity].alive

    def is_enabled(self, spec: BackendSpec) -> bool:
        return self._states[spec.identity].enabled

    def is_draining(self, spec: BackendSpec) -> bool:
        return self._states[spec.identity].draining


# The page's words for the control API's: a person reads "up" and "down" at a glance.
_WORDS: Final = {"active": "up", "dead": "down", "disabled": "disabled", "draining": "draining"}


def _latency(state: BackendState) -> Json | None:
    histogram = state.latency
    if histogram is None or histogram.count == 0:
        return None
    count = histogram.count
    bound = next(b for b, n in histogram.cumulative() if n >= LATENCY_QUANTILE * count)
    return {
        "count": count,
        "mean_ms": round(histogram.total / count * 1000, 1),
        "p95_ms": None if bound == float("inf") else round(bound * 1000, 1),
    }


def _where(spec: BackendSpec) -> str:
    if spec.kind is BackendKind.PROXY:
        return backend_address(spec)
    if spec.kind is BackendKind.REDIRECT:
        return f"redirect {spec.redirect_code}"
    return str(spec.kind.value)


def _backend(index: int, spec: BackendSpec, state: BackendState, serving: bool) -> Json:
    word = _WORDS[backend_state_word(state)]
    since = state.since
    if word in ("disabled", "draining"):  # the operator's change, when it was recorded
        since = next((c.at for c in reversed(state.history) if c.state == word), since)
    return {
        "index": index,
        "name": spec.name,
        "address": _where(spec),
        "emergency": spec.emergency,
        "state": word,
        "serving": serving,
        "since": _time(since),
        "reason": state.reason,
        "last_check": {"time": _time(state.health.last_check), "result": state.health.last_result},
        "in_flight": state.in_flight,
        "requests": state.requests,
        "errors": sum(n for code, n in state.statuses.items() if code >= SERVER_ERROR),
        "failovers": state.failovers,
        "latency": _latency(state),
        "history": [
            {"time": _time(c.at), "state": c.state, "reason": c.reason} for c in state.history
        ],
    }


def _service(view: RuntimeView, listener: int | None, index: int, service: ServiceSpec) -> Json:
    specs = all_backends(service)
    states = {
        spec.identity: view.backend_state(ObjectPath(listener, index, b))
        for b, spec in enumerate(specs)
    }
    enabled = view.service_enabled(ObjectPath(listener, index))
    # A disabled service routes nothing: none of its backends serves.
    serving = set(Balancer(service, _States(states)).candidates()) if enabled else set()
    backends = [
        _backend(b, spec, states[spec.identity], spec in serving) for b, spec in enumerate(specs)
    ]
    if service.metrics:
        tier = "metrics"
    elif any(b["serving"] and not b["emergency"] for b in backends):
        tier = "regular"
    else:
        tier = "emergency" if serving else "none"
    return {
        "index": index,
        "name": service.name,
        "enabled": enabled,
        "serving": tier,
        "requests": sum(b["requests"] for b in backends),
        "errors": sum(b["errors"] for b in backends),
        "failovers": sum(b["failovers"] for b in backends),
        "backends": backends,
    }


def status_json(view: RuntimeView, now: float, numbers: Iterable[tuple[int, int]]) -> Json:
    """The status document; ``numbers``: (Pound's number, configuration index) of each
    configured listener (``api.listener_slots`` without the Control socket)."""
    config = view.config()
    core = view.core()
    listeners: list[Json] = []
    for number, slot in numbers:
        spec = config.listeners[slot]
        listeners.append(
            {
                "index": number,
                "name": spec.name,
                "address": listener_address(spec),
                "enabled": view.listener_enabled(slot),
                "services": [
                    _service(view, slot, s, service) for s, service in enumerate(spec.services)
                ],
            }
        )
    return {
        "kind": "status",
        "generated": _time(now),
        "core": {
            "version": core.version,
            "pid": core.pid,
            "started": _time(core.started),
            "uptime": max(0, int(now - core.started)),
            "workers": core.workers,
            "unanswered": len(core.unanswered),
        },
        "listeners": listeners,
        "services": [_service(view, None, s, svc) for s, svc in enumerate(config.services)],
    }


# -- the page -------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _label(kind: str, obj: Json) -> str:
    name = obj.get("name")
    return f"{kind} {obj['index']}" + (f" “{name}”" if name else "")


def _when(iso: str | None) -> str:
    return "" if iso is None else iso.replace("T", " ").replace("Z", " UTC")


def _latency_text(latency: Json | None) -> str:
    if latency is None:
        return ""
    p95 = latency["p95_ms"]
    tail = f", 95% ≤ {p95} ms" if p95 is not None else ""
    return f"{latency['mean_ms']} ms mean{tail}"


def _history_html(history: list[Json]) -> str:
    items = "".join(
        f"<li>{_e(_when(c['time']))} {_e(c['state'])}: {_e(c['reason'])}</li>"
        for c in reversed(history)
    )
    return f"<ol>{items}</ol>" if items else ""


_COLUMNS: Final = (
    "backend",
    "address",
    "state",
    "since",
    "why",
    "requests",
    "errors",
    "failovers",
    "in flight",
    "latency",
    "last changes",
)


def _service_html(scope: str, service: Json) -> str:
    rows = []
    for b in service["backends"]:
        label = _label("emergency" if b["emergency"] else "backend", b)
        serving = " serving" if b["serving"] else ""
        in_flight = "?" if b["in_flight"] is None else b["in_flight"]
        rows.append(
            f'<tr data-backend="{_e(scope)}/{service["index"]}/{b["index"]}"'
            f' class="{_e(b["state"])}{serving}">'
            f'<td class="name">{_e(label)}</td><td class="address">{_e(b["address"])}</td>'
            f'<td class="state">{_e(b["state"])}</td>'
            f'<td class="since">{_e(_when(b["since"]))}</td>'
            f'<td class="reason">{_e(b["reason"])}</td>'
            f'<td class="requests">{b["requests"]}</td><td class="errors">{b["errors"]}</td>'
            f'<td class="failovers">{b["failovers"]}</td><td class="in-flight">{in_flight}</td>'
            f'<td class="latency">{_e(_latency_text(b["latency"]))}</td>'
            f'<td class="history">{_history_html(b["history"])}</td></tr>'
        )
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    state = "enabled" if service["enabled"] else "disabled"
    return (
        f'<table class="service" data-service="{_e(scope)}/{service["index"]}">'
        f'<caption>{_e(_label("service", service))}: <span class="enabled">{state}</span>,'
        f' serving <span class="serving">{_e(service["serving"])}</span>;'
        f" {service['requests']} requests, {service['errors']} errors,"
        f" {service['failovers']} failovers</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_body(doc: Json) -> str:
    """The ``<main>`` element's content: what the script replaces in place."""
    parts = []
    for listener in doc["listeners"]:
        state = "enabled" if listener["enabled"] else "disabled"
        parts.append(
            f'<section class="listener"><h2>{_e(_label("listener", listener))}'
            f" {_e(listener['address'])}: {state}</h2>"
            + "".join(_service_html(str(listener["index"]), s) for s in listener["services"])
            + "</section>"
        )
    if doc["services"]:
        parts.append(
            '<section class="listener"><h2>global services</h2>'
            + "".join(_service_html("-", s) for s in doc["services"])
            + "</section>"
        )
    return "".join(parts)


def core_text(doc: Json) -> str:
    core = doc["core"]
    unanswered = f", {core['unanswered']} not answering" if core["unanswered"] else ""
    return (
        f"standby {core['version']}, pid {core['pid']}, up {core['uptime']} s,"
        f" {core['workers']} worker(s){unanswered}; as of {_when(doc['generated'])}"
    )


def render_html(doc: Json) -> str:
    """The whole page, readable without JavaScript."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>standby status</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS}"></noscript>'
        f'<link rel="stylesheet" href="{STYLE_NAME}">'
        f'<script src="{SCRIPT_NAME}" defer></script></head>'
        f'<body><header><h1>standby status</h1><p id="core">{_e(core_text(doc))}</p>'
        f'<p id="live" data-poll="{POLL_SECONDS}" data-json="{JSON_NAME}">'
        f"reloads every {REFRESH_SECONDS} s</p></header>"
        f'<main id="status">{render_body(doc)}</main></body></html>\n'
    )


# The script: the same markup as render_body, built with text nodes (never innerHTML), so
# a name from the configuration stays text. On a failed fetch it says so and keeps polling.
SCRIPT: Final = """\
"use strict";
(function () {
  var live = document.getElementById("live");
  var every = Number(live.dataset.poll) * 1000;
  var url = live.dataset.json;
  var cols = ["backend", "address", "state", "since", "why", "requests", "errors",
    "failovers", "in flight", "latency", "last changes"];
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function label(kind, o) {
    return kind + " " + o.index + (o.name ? " \\u201c" + o.name + "\\u201d" : "");
  }
  function when(t) { return t ? t.replace("T", " ").replace("Z", " UTC") : ""; }
  function latency(l) {
    if (!l) { return ""; }
    return l.mean_ms + " ms mean" + (l.p95_ms === null ? "" : ", 95% \\u2264 " + l.p95_ms + " ms");
  }
  function service(scope, s) {
    var t = el("table", "service");
    t.dataset.service = scope + "/" + s.index;
    var cap = el("caption", null, label("service", s) + ": ");
    cap.appendChild(el("span", "enabled", s.enabled ? "enabled" : "disabled"));
    cap.appendChild(document.createTextNode(", serving "));
    cap.appendChild(el("span", "serving", s.serving));
    cap.appendChild(document.createTextNode("; " + s.requests + " requests, " + s.errors +
      " errors, " + s.failovers + " failovers"));
    t.appendChild(cap);
    var tr = el("tr");
    cols.forEach(function (c) { tr.appendChild(el("th", null, c)); });
    t.appendChild(el("thead")).appendChild(tr);
    var body = t.appendChild(el("tbody"));
    s.backends.forEach(function (b) {
      var r = el("tr", b.state + (b.serving ? " serving" : ""));
      r.dataset.backend = scope + "/" + s.index + "/" + b.index;
      r.appendChild(el("td", "name", label(b.emergency ? "emergency" : "backend", b)));
      r.appendChild(el("td", "address", b.address));
      r.appendChild(el("td", "state", b.state));
      r.appendChild(el("td", "since", when(b.since)));
      r.appendChild(el("td", "reason", b.reason));
      r.appendChild(el("td", "requests", b.requests));
      r.appendChild(el("td", "errors", b.errors));
      r.appendChild(el("td", "failovers", b.failovers));
      r.appendChild(el("td", "in-flight", b.in_flight === null ? "?" : b.in_flight));
      r.appendChild(el("td", "latency", latency(b.latency)));
      var h = r.appendChild(el("td", "history"));
      if (b.history.length) {
        var ol = h.appendChild(el("ol"));
        b.history.slice().reverse().forEach(function (c) {
          ol.appendChild(el("li", null, when(c.time) + " " + c.state + ": " + c.reason));
        });
      }
      body.appendChild(r);
    });
    return t;
  }
  function section(title, scope, services) {
    var sec = el("section", "listener");
    sec.appendChild(el("h2", null, title));
    services.forEach(function (s) { sec.appendChild(service(scope, s)); });
    return sec;
  }
  function render(doc) {
    var main = document.createElement("main");
    main.id = "status";
    doc.listeners.forEach(function (l) {
      var title = label("listener", l) + " " + l.address + ": " +
        (l.enabled ? "enabled" : "disabled");
      main.appendChild(section(title, String(l.index), l.services));
    });
    if (doc.services.length) { main.appendChild(section("global services", "-", doc.services)); }
    document.getElementById("status").replaceWith(main);
    var c = doc.core;
    document.getElementById("core").textContent = "standby " + c.version + ", pid " + c.pid +
      ", up " + c.uptime + " s, " + c.workers + " worker(s)" +
      (c.unanswered ? ", " + c.unanswered + " not answering" : "") +
      "; as of " + when(doc.generated);
  }
  function poll() {
    fetch(url, {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (doc) {
        render(doc);
        live.textContent = "live, every " + every / 1000 + " s";
        live.className = "";
      })
      .catch(function (e) {
        live.textContent = "not updated: " + e.message;
        live.className = "stale";
      })
      .then(function () { setTimeout(poll, every); });
  }
  live.textContent = "live, every " + every / 1000 + " s";
  setTimeout(poll, every);
})();
"""

STYLE: Final = """\
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.3em; margin: 0; } h2 { font-size: 1.1em; }
#live { color: #666; } #live.stale { color: #b00; font-weight: bold; }
table { border-collapse: collapse; margin: 0 0 1.2em; }
caption { text-align: left; font-weight: bold; padding: .2em 0; }
th, td { border: 1px solid #ccc; padding: .2em .5em; vertical-align: top; text-align: left; }
td.requests, td.errors, td.failovers, td.in-flight { text-align: right; }
tr.up td.state { background: #cfc; } tr.down td.state { background: #fcc; }
tr.draining td.state { background: #ffc; } tr.disabled td.state { background: #ddd; }
tr.serving td.name { font-weight: bold; }
td.history ol { margin: 0; padding-left: 1.2em; font-size: .9em; }
"""
