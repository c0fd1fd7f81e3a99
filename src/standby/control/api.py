"""The control API: (method, target, body) -> (status, JSON), against a ``RuntimeView`` (pure).

Pound 4's management interface, as its manual describes it, with standby's additions:

=======  ====================================  ===============================================
method   target                                effect
=======  ====================================  ===============================================
GET      ``/`` (or ``/listener``)              full listing: ``{"kind": "pound", "core",
                                               "listeners", "services"}``
GET      ``/core``                             the core object (pid, version, uptime...)
GET      ``/listener/L``                       one listener with its services and backends
GET      ``/listener/-``                       the global services: ``{"kind": "global"}``
GET      ``/listener/L/service/S``             one service (L may be ``-``: global scope)
GET      ``/listener/L/service/S/backend/B``   one backend
PUT      a listener, service or backend        enable it (a backend also stops draining)
DELETE   a listener, service or backend        disable it
PATCH    same, body ``{"state": "enabled" |    enable / disable; ``drain`` (backends only):
         "disabled" | "drain"}``               no new requests, in-flight ones finish
POST     ``/reload``                           re-read the configuration (the shell does it)
GET      ``/metrics``                          OpenMetrics text
GET      ``/status`` (``.json``, ``.js``,      the status page, its data, script, style
         ``.css``)                             (``control.status``)
=======  ====================================  ===============================================

Addressing follows poundctl: L is the listener's ordinal number in the configuration file, the
``Control`` socket counting as a listener where it appears (or the listener's name; ``-``, or
``-1`` as in Pound 2, for the global scope); S the service's ordinal number in its listener
(or its name); B the backend's ordinal number in its service: regular backends first, then
Emergency ones (Pound's manual does not say how Emergency backends are numbered; this is our
choice). Changing the Control listener itself is refused (403): it would lock the operator out.

Every answer is JSON (``{"error": "..."}`` on failure) except ``/metrics``. PUT, DELETE and
PATCH answer with the object after the change. ``handle`` returns ``RELOAD`` for
``POST /reload``: the shell awaits ``RuntimeView.reload()`` and answers with
``reload_reply(ok, message)``.

Where Pound's manual leaves the JSON open we guessed, and say so in ``docs/operations.md``:
type-specific backend attributes are flat (``address``; ``url``/``code``/``redir_req``),
unnamed objects have ``"name": null``, times are UTC ISO 8601 with a ``Z``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast
from urllib.parse import unquote, urlsplit

from standby.control import status
from standby.control.view import (
    BackendState,
    CoreInfo,
    ObjectPath,
    RuntimeView,
    SessionView,
    all_backends,
    backend_address,
    backend_state_word,
    listener_address,
    services_of,
)
from standby.http1.messages import reason_phrase
from standby.model import BackendKind, BackendSpec, ConfigSpec, ServiceSpec
from standby.observe.metrics import (
    CONTENT_TYPE as METRICS_CONTENT_TYPE,
)
from standby.observe.metrics import (
    BackendSample,
    ListenerSample,
    MetricsSnapshot,
    ServiceSample,
    render_openmetrics,
)

JSON_TYPE = "application/json"
GLOBAL_NAMES = frozenset({"-", "-1"})  # "-" in Pound 4, listener -1 in Pound 2
STATES = ("enabled", "disabled", "drain")  # PATCH {"state": ...}
_NUMBER = re.compile(r"[0-9]{1,9}")  # an ordinal number; more digits cannot name anything

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer of the control socket."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    allow: tuple[str, ...] = ()  # for 405: the methods the target accepts


def serialise(reply: Reply, keep_alive: bool = False) -> bytes:
    """The HTTP/1.1 message of ``reply``: the control socket's (one answer per
    connection), or a ``Control`` service's (``keep_alive``: the connection stays)."""
    lines = [
        b"HTTP/1.1 %d %s\r\n" % (reply.status, reason_phrase(reply.status)),
        b"Content-Type: %s\r\n" % reply.content_type.encode("ascii"),
        b"Content-Length: %d\r\n" % len(reply.body),
    ]
    if reply.allow:
        lines.append(b"Allow: %s\r\n" % ", ".join(reply.allow).encode("ascii"))
    lines.append(b"Cache-Control: no-store\r\n")
    for name, value in status.HEADERS_BY_TYPE.get(reply.content_type, ()):
        lines.append(b"%s: %s\r\n" % (name.encode("ascii"), value.encode("ascii")))
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    lines += (b"\r\n", reply.body)
    return b"".join(lines)


class _Reload:
    """Marker: the shell must run the reload, then answer ``reload_reply(ok, message)``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RELOAD"


RELOAD: Final = _Reload()


class ApiError(Exception):
    """A request the API refuses: status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- addressing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Control:
    """The Control socket in Pound's listener numbering."""

    path: str


Slot = int | _Control  # a config listener index, or the Control pseudo-listener


def control_socket(config: ConfigSpec) -> str | None:
    """The ``Control`` path, while ``ConfigSpec`` may not have the field yet."""
    path = getattr(config, "control", None)
    return path if isinstance(path, str) and path else None


def listener_slots(config: ConfigSpec) -> list[Slot]:
    """Pound's listener numbering: the configured listeners, with the Control socket
    inserted where it appears in the file (``ConfigSpec.control_index``: how many listeners
    precede it; first when the position is unknown)."""
    slots: list[Slot] = list(range(len(config.listeners)))
    path = control_socket(config)
    if path is not None:
        position = getattr(config, "control_index", None)
        if not isinstance(position, int) or not 0 <= position <= len(slots):
            position = 0
        slots.insert(position, _Control(path))
    return slots


def pound_index(config: ConfigSpec, listener: int) -> int:
    """Pound's number of configured listener ``listener``."""
    return listener_slots(config).index(listener)


@dataclass(frozen=True, slots=True)
class _Target:
    """What a request path names, resolved against the configuration."""

    slot: Slot | None  # None: the global scope
    listener_label: str  # as Pound numbers it ("-" for global)
    service: int | None = None
    backend: int | None = None

    @property
    def path(self) -> ObjectPath:
        assert not isinstance(self.slot, _Control)
        return ObjectPath(self.slot, self.service, self.backend)


def _find_listener(config: ConfigSpec, key: str) -> tuple[Slot | None, str]:
    if key in GLOBAL_NAMES:
        return None, "-"
    slots = listener_slots(config)
    if _NUMBER.fullmatch(key):
        n = int(key)
        if n < len(slots):
            return slots[n], str(n)
    else:
        for n, slot in enumerate(slots):
            if isinstance(slot, int) and config.listeners[slot].name == key:
                return slot, str(n)
    raise ApiError(404, f"no listener {key!r}")


def _find_service(services: tuple[ServiceSpec, ...], key: str) -> int:
    if _NUMBER.fullmatch(key):
        if int(key) < len(services):
            return int(key)
    else:
        for n, service in enumerate(services):
            if service.name == key:
                return n
    raise ApiError(404, f"no service {key!r}")


def _resolve(config: ConfigSpec, parts: list[str]) -> _Target:
    """``parts`` after "listener": [L] or [L, "service", S] or [L, "service", S, "backend", B]."""
    if len(parts) not in (1, 3, 5) or parts[1::2] != ["service", "backend"][: len(parts) // 2]:
        raise ApiError(404, "no such object")
    slot, label = _find_listener(config, parts[0])
    if len(parts) == 1:
        return _Target(slot, label)
    if isinstance(slot, _Control):  # one unnamed service with one backend of type control
        service = _find_service((ServiceSpec(None),), parts[2])
        backends_count = 1
    else:
        services = services_of(config, slot)
        service = _find_service(services, parts[2])
        backends_count = len(all_backends(services[service]))
    if len(parts) == 3:
        return _Target(slot, label, service)
    key = parts[4]
    if not _NUMBER.fullmatch(key) or int(key) >= backends_count:
        raise ApiError(404, f"no backend {key!r}")
    return _Target(slot, label, service, int(key))


# -- JSON objects ---------------------------------------------------------------------------


def iso_time(wall: float | None) -> str | None:
    """Pound's timestamp form with microseconds, in UTC with a ``Z``."""
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(value: float) -> int | float:
    """Timeouts as Pound prints them: whole seconds as integers."""
    return int(value) if value == int(value) else value


def backend_json(index: int, spec: BackendSpec, state: BackendState) -> Json:
    obj: Json = {"kind": "backend", "index": index}
    if spec.kind is BackendKind.REDIRECT:
        obj["type"] = "redirect"
        obj["url"] = spec.redirect_url
        obj["code"] = spec.redirect_code
        obj["redir_req"] = urlsplit(spec.redirect_url).path == ""
    elif spec.kind is BackendKind.PROXY:
        obj["type"] = "backend"
        obj["address"] = backend_address(spec)
    else:  # a special backend answered by standby itself (e.g. Metrics)
        obj["type"] = spec.kind.value
        special = spec.special
        if spec.kind is BackendKind.SENDFILE:
            obj["type"] = "file"  # Pound 4's name for SendFile's kind
        elif spec.kind is BackendKind.ERROR and special is not None:  # as Pound 4 shows it
            obj["status"] = special.status
            obj["text"] = None if special.page is None else special.page.decode("utf-8", "replace")
    obj.update(
        protocol="http",
        priority=spec.priority,
        alive=state.alive,
        enabled=state.enabled,
        conn_to=_seconds(spec.conn_timeout),
        io_to=_seconds(spec.timeout),
        ws_to=_seconds(spec.ws_timeout),
        emergency=spec.emergency,
        state=backend_state_word(state),
        draining=state.draining,
        in_flight=state.in_flight,  # null: unknown, a worker in `unanswered` did not answer
        unanswered=list(state.unanswered),
        requests=state.requests,
        transition={"time": iso_time(state.since), "reason": state.reason},
        health={
            "last_check": iso_time(state.health.last_check),
            "result": state.health.last_result,
            "successes": state.health.successes,
            "failures": state.health.failures,
        },
    )
    return obj


def service_json(view: RuntimeView, listener: int | None, index: int) -> Json:
    service = services_of(view.config(), listener)[index]
    path = ObjectPath(listener, index)
    backends = [
        backend_json(i, spec, view.backend_state(ObjectPath(listener, index, i)))
        for i, spec in enumerate(all_backends(service))
    ]
    regular = backends[: len(service.backends)]
    emergencies = backends[len(service.backends) :]
    obj: Json = {
        "kind": "service",
        "index": index,
        "name": service.name,
        "enabled": view.service_enabled(path),
        **_sessions_json(view, path, service),
        "backends": regular,
        "emergency": emergencies[0] if emergencies else None,
        "emergencies": emergencies,
    }
    if service.metrics:
        obj["metrics"] = True  # it answers with the metrics text (Pound's metrics backend)
    return obj


def _control_backend(config: ConfigSpec) -> Json:
    return {
        "kind": "backend",
        "index": 0,
        "type": "control",
        "protocol": "http",
        "priority": 5,
        "alive": True,
        "enabled": True,
        "conn_to": _seconds(config.conn_timeout),
        "io_to": _seconds(config.timeout),
        "ws_to": _seconds(config.ws_timeout),
        "emergency": False,
        "state": "active",
    }


def _control_service(config: ConfigSpec) -> Json:
    return {
        "kind": "service",
        "index": 0,
        "name": None,
        "enabled": True,
        "session_type": None,
        "sessions": [],
        "backends": [_control_backend(config)],
        "emergency": None,
        "emergencies": [],
    }


def listener_json(view: RuntimeView, number: int, slot: Slot) -> Json:
    config = view.config()
    if isinstance(slot, _Control):
        return {
            "kind": "listener",
            "index": number,
            "name": None,
            "address": slot.path,
            "protocol": "http",
            "enabled": True,
            "nohttps11": 0,
            "services": [_control_service(config)],
        }
    spec = config.listeners[slot]
    return {
        "kind": "listener",
        "index": number,
        "name": spec.name,
        "address": listener_address(spec),
        "protocol": "http",
        "enabled": view.listener_enabled(slot),
        "nohttps11": 0,
        "services": [service_json(view, slot, s) for s in range(len(spec.services))],
    }


def core_json(core: CoreInfo, now: float, active: int | None = None) -> Json:
    """``active``: the requests in flight at the backends (``in_flight_total``), standby's
    counterpart of Pound's busy threads; null when a worker did not answer."""
    return {
        "kind": "core",
        "pid": core.pid,
        "version": core.version,
        "uptime": max(0, round((now - core.started) * 1_000_000)),  # microseconds, as Pound
        "timestamp": iso_time(now),
        "workers": {"count": core.workers, "active": active, "unanswered": list(core.unanswered)},
    }


def in_flight_total(view: RuntimeView) -> int | None:
    """The requests in flight at every backend, or None when one count is unknown."""
    config = view.config()
    total = 0
    scopes: list[int | None] = [*range(len(config.listeners)), None]
    for listener in scopes:
        for s, service in enumerate(services_of(config, listener)):
            for b in range(len(all_backends(service))):
                count = view.backend_state(ObjectPath(listener, s, b)).in_flight
                if count is None:
                    return None
                total += count
    return total


def full_listing(view: RuntimeView, now: float) -> Json:
    config = view.config()
    return {
        "kind": "pound",
        "core": core_json(view.core(), now, in_flight_total(view)),
        "listeners": [
            listener_json(view, n, slot) for n, slot in enumerate(listener_slots(config))
        ],
        "services": [service_json(view, None, s) for s in range(len(config.services))],
    }


def _target_json(view: RuntimeView, target: _Target) -> Json:
    config = view.config()
    if isinstance(target.slot, _Control):
        number = int(target.listener_label)
        if target.service is None:
            return listener_json(view, number, target.slot)
        if target.backend is None:
            return _control_service(config)
        return _control_backend(config)
    if target.service is None:
        if target.slot is None:
            services = [service_json(view, None, s) for s in range(len(config.services))]
            return {"kind": "global", "services": services}
        return listener_json(view, int(target.listener_label), target.slot)
    if target.backend is None:
        return service_json(view, target.slot, target.service)
    service = services_of(config, target.slot)[target.service]
    spec = all_backends(service)[target.backend]
    return backend_json(target.backend, spec, view.backend_state(target.path))


# -- metrics --------------------------------------------------------------------------------


def metrics_snapshot(view: RuntimeView, now: float) -> MetricsSnapshot:
    """What ``render_openmetrics`` needs, read from ``view`` with Pound's numbering."""
    config = view.config()
    core = view.core()
    listeners: list[ListenerSample] = []
    services: list[ServiceSample] = []
    backends: list[BackendSample] = []

    def add_service(listener: int | None, number: int | None, index: int) -> None:
        service = services_of(config, listener)[index]
        enabled = view.service_enabled(ObjectPath(listener, index))
        services.append(ServiceSample(number, index, service.name or "", enabled))
        for b, spec in enumerate(all_backends(service)):
            st = view.backend_state(ObjectPath(listener, index, b))
            backends.append(
                BackendSample(
                    listener=number,
                    service=index,
                    index=b,
                    alive=st.alive,
                    enabled=st.enabled,
                    draining=st.draining,
                    emergency=spec.emergency,
                    in_flight=st.in_flight,
                    requests=st.requests,
                    statuses=st.statuses,
                    failovers=st.failovers,
                    resends=st.resends,
                    transitions=st.transitions,
                    latency=st.latency,
                )
            )

    for number, slot in enumerate(listener_slots(config)):
        if isinstance(slot, _Control):
            listeners.append(ListenerSample(number, "", slot.path, "http", True))
            services.append(ServiceSample(number, 0, "", True))
            backends.append(BackendSample(number, 0, 0, True, True, False, False, 0, 0))
            continue
        spec = config.listeners[slot]
        enabled = view.listener_enabled(slot)
        address = listener_address(spec)
        listeners.append(ListenerSample(number, spec.name or "", address, "http", enabled))
        for s in range(len(spec.services)):
            add_service(slot, number, s)
    for s in range(len(config.services)):
        add_service(None, None, s)
    return MetricsSnapshot(
        uptime=max(0.0, now - core.started),
        workers=core.workers,
        unanswered=len(core.unanswered),
        listeners=listeners,
        services=services,
        backends=backends,
    )


# -- the status page ------------------------------------------------------------------------

_STATIC: Final = {
    status.SCRIPT_NAME: (status.SCRIPT, status.SCRIPT_TYPE),
    status.STYLE_NAME: (status.STYLE, status.STYLE_TYPE),
}


def status_reply(view: RuntimeView, now: float, name: str) -> Reply:
    """The status page (``status``), its document (``status.json``), script or style."""
    static = _STATIC.get(name)
    if static is not None:
        return Reply(200, static[0].encode(), static[1])
    config = view.config()
    numbers = [(n, slot) for n, slot in enumerate(listener_slots(config)) if isinstance(slot, int)]
    doc = status.status_json(view, now, numbers)
    if name == status.JSON_NAME:  # compact: a script reads it every few seconds
        return Reply(200, json.dumps(doc, separators=(",", ":")).encode())
    return Reply(200, status.render_html(doc).encode(), status.HTML_TYPE)


# -- routing --------------------------------------------------------------------------------


def json_reply(status: int, obj: Json) -> Reply:
    return Reply(status, (json.dumps(obj, indent=2) + "\n").encode())


def error_reply(status: int, message: str, allow: tuple[str, ...] = ()) -> Reply:
    return Reply(status, (json.dumps({"error": message}) + "\n").encode(), allow=allow)


def metrics_reply(text: str) -> Reply:
    return Reply(200, text.encode(), METRICS_CONTENT_TYPE)


def is_metrics(method: str, target: str) -> bool:
    """Whether the request asks for the metrics text (a shell may answer it from a shared
    rendering without deciding anything else)."""
    return method == "GET" and target.startswith("/") and _parts(target) == ["metrics"]


def reload_reply(ok: bool, message: str) -> Reply:
    """The answer to ``POST /reload`` once the shell ran it; a rejected configuration is 422
    (the request was understood; the file it names is not acceptable)."""
    if ok:
        return json_reply(200, {"kind": "reload", "ok": True, "message": message})
    return json_reply(422, {"kind": "reload", "ok": False, "error": message})


_OBJECT_METHODS = ("GET", "PUT", "DELETE", "PATCH")


def handle(view: RuntimeView, method: str, target: str, body: bytes, now: float) -> Reply | _Reload:
    """Route one request; ``now`` is the wall time (uptime, timestamps)."""
    try:
        return _route(view, method, target, body, now)
    except ApiError as exc:
        return error_reply(exc.status, exc.message)


def _only(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise _MethodNotAllowed(allowed)


class _MethodNotAllowed(ApiError):
    def __init__(self, allow: tuple[str, ...]) -> None:
        super().__init__(405, "method not allowed; allowed: " + ", ".join(allow))
        self.allow = allow


def _route(view: RuntimeView, method: str, target: str, body: bytes, now: float) -> Reply | _Reload:
    if not target.startswith("/"):
        raise ApiError(400, "the request target must be a path")
    try:
        return _dispatch(view, method, _parts(target), body, now, target.partition("?")[2])
    except _MethodNotAllowed as exc:
        return error_reply(405, exc.message, exc.allow)


def _parts(target: str) -> list[str]:
    """The path segments of ``target`` (which starts with a slash), unquoted."""
    path = target.partition("?")[0]
    parts = [unquote(p) for p in path.split("/")[1:]]
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash names the same object
    return parts


def _dispatch(
    view: RuntimeView, method: str, parts: list[str], body: bytes, now: float, query: str = ""
) -> Reply | _Reload:
    if parts in ([], ["listener"]):
        _only(method, ("GET",))
        return json_reply(200, full_listing(view, now))
    if parts == ["core"]:
        _only(method, ("GET",))
        return json_reply(200, core_json(view.core(), now, in_flight_total(view)))
    if parts == ["metrics"]:
        _only(method, ("GET",))
        return metrics_reply(render_openmetrics(metrics_snapshot(view, now)))
    if len(parts) == 1 and parts[0] in status.RESOURCES:
        _only(method, ("GET",))
        return status_reply(view, now, parts[0])
    if parts == ["reload"]:
        _only(method, ("POST",))
        return RELOAD
    if parts and parts[0] == "session":
        return _session_route(view, method, parts[1:], query)
    if not parts or parts[0] != "listener":
        raise ApiError(404, "no such resource")
    target = _resolve(view.config(), parts[1:])
    if target.slot is None and target.service is None:
        _only(method, ("GET",))
    else:
        _only(method, _OBJECT_METHODS)
    if method == "GET":
        return json_reply(200, _target_json(view, target))
    if isinstance(target.slot, _Control):
        raise ApiError(403, "the control listener cannot be changed")
    action = _action(method, body)
    if action == "drain":
        if target.backend is None:
            raise ApiError(400, "only a backend can be drained")
        view.set_draining(target.path, True)
    else:
        enable = action == "enabled"
        if enable and target.backend is not None:
            view.set_draining(target.path, False)  # enabling ends a maintenance window
        view.set_enabled(target.path, enable)
    return json_reply(200, _target_json(view, target))


_METHOD_ACTION: dict[str, str] = {"PUT": "enabled", "DELETE": "disabled"}


def _action(method: str, body: bytes) -> str:
    if method != "PATCH":
        return _METHOD_ACTION[method]
    try:
        obj = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the body is not valid JSON") from None
    state = obj.get("state") if isinstance(obj, dict) else None
    if state not in STATES:
        raise ApiError(400, 'PATCH needs a body {"state": "enabled" | "disabled" | "drain"}')
    assert isinstance(state, str)
    return state


# --- issue 15: sessions -------------------------------------------------------------------
# Pound's routes: ``GET /session/L/S`` lists a service's sessions, ``PUT /session/L/S/B?key=K``
# makes (or moves) session K to backend B, ``DELETE /session/L/S?key=K`` deletes it; the
# last two answer with the service object, as Pound does. L, S, B as in /listener/...
# (Pound's numbers or names); K percent-decoded.


def _sessions_json(view: RuntimeView, path: ObjectPath, service: ServiceSpec) -> Json:
    session = service.session
    found = None if session is None else cast(SessionView, view).sessions(path)
    if session is None or found is None:
        return {"session_type": None, "sessions": []}
    return {
        "session_type": session.type.value,
        "sessions": [
            {"key": s.key, "backend": s.backend, "expire": iso_time(s.expires)} for s in found
        ],
    }


def _session_route(view: RuntimeView, method: str, parts: list[str], query: str) -> Reply:
    _only(method, ("GET", "PUT", "DELETE"))
    if len(parts) not in (2, 3):
        raise ApiError(404, "a session path is /session/L/S (or /session/L/S/B to add one)")
    steps = [parts[0], "service", parts[1]] + (["backend", parts[2]] if len(parts) == 3 else [])
    target = _resolve(view.config(), steps)
    if isinstance(target.slot, _Control):
        raise ApiError(400, "the control listener has no sessions")
    service = services_of(view.config(), target.slot)[cast(int, target.service)]
    if service.session is None:
        raise ApiError(400, "this service has no Session")
    sessions = cast(SessionView, view)
    if method == "GET":
        if target.backend is not None:
            raise ApiError(404, "sessions belong to a service: /session/L/S")
        return json_reply(200, _sessions_json(view, target.path, service))
    keys = [unquote(v) for k, _, v in (p.partition("=") for p in query.split("&")) if k == "key"]
    if not keys:
        raise ApiError(400, "the session key is missing: ?key=KEY")
    if method == "PUT":
        if target.backend is None:
            raise ApiError(400, "a session is added to a backend: /session/L/S/B?key=KEY")
        if target.backend >= len(service.backends):
            raise ApiError(400, "an Emergency backend takes no session")
        sessions.add_session(target.path, keys[0])
    else:
        if target.backend is not None:
            raise ApiError(400, "a session is deleted from a service: /session/L/S?key=KEY")
        sessions.delete_session(target.path, keys[0])
    return json_reply(200, service_json(view, target.slot, cast(int, target.service)))
