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

Json = dict[str, Any]

NO_SESSION = "NONE"  # Pound's session_type of a service without Session
# A backend's fields as poundctl shows them, by type; a type not listed keeps every field
# but standby's own (STANDBY_ONLY).
BACKEND_FIELDS: dict[str, tuple[str, ...]] = {
    "backend": (
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
    ),
    "control": ("alive", "enabled", "kind", "priority", "type", "weight"),
}
# Pound's value of a field the control API leaves out.
BACKEND_DEFAULTS: dict[str, Any] = {"servername": None, "weight": 0}
# Fields whose value Pound fixes for a backend type: its control backend has priority 1
# (the API shows standby's default priority, 5, for every backend).
BACKEND_FIXED: dict[str, dict[str, Any]] = {"control": {"priority": 1}}
# Fields only standby's API has (the rest of a backend of another type is Pound's).
STANDBY_ONLY = frozenset(
    {
        "index",
        "emergency",
        "emergencies",
        "state",
        "draining",
        "in_flight",
        "unanswered",
        "requests",
        "transition",
        "health",
    }
)
LISTENER_FIELDS = ("address", "enabled", "kind", "name", "protocol")
CORE_FIELDS = ("kind", "pid", "uptime", "version")
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
    out = {name: obj[name] for name in CORE_FIELDS if name in obj}
    stamp = obj.get("timestamp")
    if isinstance(stamp, str):
        out["timestamp"] = stamp.removesuffix("Z")  # Pound's has no zone designator
    workers = obj.get("workers")
    if isinstance(workers, dict) and "count" in workers:
        out["workers"] = {"count": workers["count"]}
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
        "backends": [backend(item) for item in backends],
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
    fields = BACKEND_FIELDS.get(str(obj.get("type")))
    if fields is None:
        return {name: value for name, value in obj.items() if name not in STANDBY_ONLY}
    out = {name: obj.get(name, BACKEND_DEFAULTS.get(name)) for name in fields}
    out.update(BACKEND_FIXED.get(str(obj.get("type")), {}))
    return out


def render(value: Any, indent: int | None = None) -> str:
    """poundctl's layout: sorted keys; ``indent`` spaces per level when given (``-i N``),
    else one line with ``", "`` between members and ``":"`` after names. No newline."""
    if indent:
        return json.dumps(value, sort_keys=True, indent=indent)
    return json.dumps(value, sort_keys=True, separators=(", ", ":"))
