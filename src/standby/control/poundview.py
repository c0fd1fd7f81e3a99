"""``poundctl -j``'s JSON from the control API's: the objects and fields Pound 4 shows, in
its layout (sorted keys, ``", "`` between members, no final newline; ``-i N`` indents).

The control API answers a superset of Pound's objects (draining, requests in flight,
health, transitions...); scripts written for ``poundctl -j`` compare whole objects, so
this keeps each kind's Pound fields only, with Pound's values where standby says nothing
(a service without ``Session`` has ``session_type`` ``"NONE"`` and ``sessions`` null).
Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

from standby.control.api import JSON_TYPE, Reply, error_reply

Json = dict[str, Any]

NO_SESSION = "NONE"  # Pound's session_type of a service without Session
# A proxied backend's fields as poundctl shows them.
PROXY_FIELDS = (
    "address",
    "alive",
    "conn_to",
    "enabled",
    "io_to",
    "kind",
    "priority",
    "protocol",
    "servername",
    "type",
    "weight",
    "ws_to",
)
# A backend standby answers itself (Control, Redirect, Error, SendFile, Metrics...): Pound
# shows these fields and the type's own (SPECIAL_EXTRA), with priority 1, as Pound gives
# every such backend.
SPECIAL_FIELDS = ("alive", "enabled", "kind", "priority", "type", "weight")
SPECIAL_EXTRA: dict[str, tuple[str, ...]] = {
    "redirect": ("code", "has_uri", "url"),
    "error": ("status", "text"),
}
SPECIAL_PRIORITY = 1
# Pound's "weight" is the backend's balancer group: 0 for Backend, 65535 for Emergency
# (standby's regular and emergency tiers).
REGULAR_GROUP = 0
EMERGENCY_GROUP = 65535
LISTENER_FIELDS = ("address", "enabled", "kind", "name", "protocol")
CORE_FIELDS = ("kind", "pid", "uptime", "version")
NO_QUEUE = 0  # standby queues no request in user space: the length and the room are 0
NO_IDLE_TIMEOUT = 0  # Pound's idle thread timeout; standby's workers are never retired idle
SESSION_FIELDS = ("backend", "expire", "key")


def pound_object(obj: Json) -> Any:
    """The object poundctl -j would print for the control API's ``obj``."""
    kind = obj.get("kind")
    if kind == "pound":
        out: Json = {"kind": "pound"}
        if isinstance(obj.get("core"), dict):
            out["core"] = core(obj["core"])
        out["listeners"] = [listener(item) for item in obj.get("listeners", [])]
        out["services"] = [service(item) for item in obj.get("services", [])]
        return out
    if kind == "global":
        return {"kind": "pound", "services": [service(s) for s in obj.get("services", [])]}
    if kind == "listener":
        return listener(obj)
    if kind == "service":
        return service(obj)
    if kind == "backend":
        return backend(obj)
    if kind == "core":
        return core(obj)
    return obj


def core(obj: Json) -> Json:
    """Pound's core object with standby's figures: a request queue that standby does not
    have (connections wait in the kernel's listen backlog) is empty with no room, and the
    fixed pool of worker processes (``Workers``, restarted when they die) stands for
    Pound's thread pool: ``min`` = ``max`` = ``count``, ``active`` the requests in flight at
    the backends, ``timeout`` 0 as standby never retires an idle worker."""
    out = {name: obj[name] for name in CORE_FIELDS if name in obj}
    stamp = obj.get("timestamp")
    if isinstance(stamp, str):
        out["timestamp"] = stamp.removesuffix("Z")  # Pound's has no zone designator
    out["queue"] = {"len": NO_QUEUE, "max": NO_QUEUE}
    out["queue_len"] = NO_QUEUE  # Pound 4.5 to 4.22's name, which Pound 4.23 still sends
    workers = obj.get("workers")
    if isinstance(workers, dict) and "count" in workers:
        count = workers["count"]
        out["workers"] = {
            "active": workers.get("active"),
            "count": count,
            "max": count,
            "min": count,
            "timeout": NO_IDLE_TIMEOUT,
        }
    return out


def listener(obj: Json) -> Json:
    out = {name: obj.get(name) for name in LISTENER_FIELDS}
    if obj.get("protocol") == "https" and "nohttps11" in obj:
        out["nohttps11"] = obj["nohttps11"]
    out["services"] = [service(item) for item in obj.get("services", [])]
    return out


def service(obj: Json) -> Json:
    session_type = obj.get("session_type") or NO_SESSION
    sessions = obj.get("sessions")
    backends = [*obj.get("backends", []), *obj.get("emergencies", [])]
    return {
        "backends": [_metrics_backend()]
        if obj.get("metrics")
        else [backend(item) for item in backends],
        "enabled": obj.get("enabled"),
        "kind": "service",
        "name": obj.get("name"),
        "session_type": session_type,
        "sessions": None
        if session_type == NO_SESSION
        else [session(item) for item in sessions or []],
    }


def session(obj: Json) -> Json:
    out = {name: obj.get(name) for name in SESSION_FIELDS}
    if isinstance(out["expire"], str):
        out["expire"] = out["expire"].removesuffix("Z")
    return out


def backend(obj: Json) -> Json:
    group = EMERGENCY_GROUP if obj.get("emergency") else REGULAR_GROUP
    if obj.get("type") == "backend":
        out = {name: obj.get(name) for name in PROXY_FIELDS}
        out["weight"] = group
        return out
    extra = SPECIAL_EXTRA.get(str(obj.get("type")), ())
    out = {name: obj.get(name) for name in (*SPECIAL_FIELDS, *extra)}
    out.update(priority=SPECIAL_PRIORITY, weight=group)
    if "has_uri" in extra:  # Pound appends the request's path when the URL has none
        out["has_uri"] = not obj.get("redir_req")
    return out


def _metrics_backend() -> Json:
    """A ``Metrics`` service's backend as Pound shows it (standby's is the service's flag)."""
    return {
        "alive": True,
        "enabled": True,
        "kind": "backend",
        "priority": SPECIAL_PRIORITY,
        "type": "metrics",
        "weight": REGULAR_GROUP,
    }


def render(value: Any, indent: int | None = None) -> str:
    """poundctl's layout: sorted keys; ``indent`` spaces per level when given (``-i N``),
    else one line with ``", "`` between members and ``":"`` after names. No newline."""
    if indent:
        return json.dumps(value, sort_keys=True, indent=indent)
    return json.dumps(value, sort_keys=True, separators=(", ", ":"))


# -- Pound's REST requests to a Control service ------------------------------------------------
# Pound 4's `Control` in a Service answers GET /, /core, /listener[/L[/S[/B]]] and
# /service/S[/B] (global services), and PUT (enable) / DELETE (disable) on the same objects,
# with its JSON (``?indent=N``, 0 to MAX_INDENT). The Control backend answers those in
# Pound's dialect and everything else (standby's long paths /listener/L/service/S/backend/B,
# PATCH, /session, /reload, /metrics) in the control API's own; /listener/L/service/S is
# standby's (Pound would read it as backend S of a service named "service").

MAX_INDENT = 80  # Pound refuses a larger ?indent= with 400
_POUND_METHODS = frozenset({"GET", "PUT", "DELETE"})
_CHANGED = "true"  # Pound's answer to an enable or disable that succeeded


class PoundRequest:
    """A request in Pound's dialect: the control API's target for it and how to reshape the
    API's answer."""

    __slots__ = ("change", "indent", "target")

    def __init__(self, target: str, indent: int | None, change: bool) -> None:
        self.target = target
        self.indent = indent
        self.change = change

    def reply(self, reply: Reply) -> Reply:
        """The API's answer as Pound gives it: errors stay the API's."""
        if reply.status != 200 or reply.content_type != JSON_TYPE:
            return reply
        if self.change:
            return Reply(200, _CHANGED.encode())
        return Reply(200, render(pound_object(json.loads(reply.body)), self.indent).encode())


def pound_request(method: str, target: str) -> PoundRequest | Reply | None:
    """``target`` in Pound's dialect (or a 400 for a bad ``indent``); None: the API's own."""
    if method not in _POUND_METHODS:
        return None
    path, _, query = target.partition("?")
    parts = [unquote(p) for p in path.split("/")[1:]]
    if parts and parts[-1] == "":
        parts.pop()
    api_target = _api_target(parts, method == "GET")
    if api_target is None:
        return None
    indent: int | None = None
    for name, _, value in (item.partition("=") for item in query.split("&")):
        if name == "indent":
            if not value.isdigit() or int(value) > MAX_INDENT:
                return error_reply(400, f"indent is a number from 0 to {MAX_INDENT}")
            indent = int(value)
    return PoundRequest(api_target, indent, method != "GET")


def _api_target(parts: list[str], read: bool) -> str | None:
    if read and parts == ["core"]:
        return "/core"
    if read and parts in ([], ["listener"], ["listener", "-"]):
        return "/"  # Pound lists everything, also for the global scope as a "listener"
    if len(parts) < 2 or parts[0] not in ("listener", "service"):
        return None
    ids = ["-", *parts[1:]] if parts[0] == "service" else parts[1:]
    if len(ids) > 3 or (parts[0] == "listener" and len(ids) == 3 and ids[1] == "service"):
        return None  # not Pound's, or standby's /listener/L/service/S[/backend/B]
    words = ("listener", "service", "backend")
    return "".join(f"/{word}/{quote(key, safe='')}" for word, key in zip(words, ids, strict=False))
