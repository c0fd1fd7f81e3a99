"""``standbyctl``: the operator's client for the control socket (poundctl's commands).

::

    standbyctl [-f pound.cfg | -s SOCKET] [--json | -j [-i N]] [-v] [COMMAND [ARGS]]

    list [/L[/S[/B]]]             a table of listeners, services, backends (or JSON);
                                  the default command, as in poundctl
    core                          the process: pid, version, uptime, workers
    enable|on /L[/S[/B]]          enable (a backend also stops draining)
    disable|off /L[/S[/B]]        disable
    add /L/S/B KEY                add (or move) session KEY to backend B
    delete|del /L/S KEY           delete session KEY
    drain /L/S/B [--wait [--timeout T]]
                                  no new requests; with --wait, return once none is in flight
    reload                        re-read the configuration
    metrics                       the OpenMetrics text
    keepalive on|off              off: every answer closes its connection, those still
                                  idle a second later are closed, new ones still accepted
                                  (an HA handover: the floating address may then move
                                  without a reset); returns after that second; on
    check [-v]                    exit 0 if this standby can serve: every listener accepts,
                                  every service has a usable backend (keepalived's
                                  track_script; quiet; -v: one line saying why)
    fingerprint                   a hash of the effective configuration of -f FILE (after
                                  Include and defaults; comments, layout and file names of
                                  includes do not count): equal on the two proxies of a pair

Objects are addressed as in poundctl: ``/L/S/B`` with ordinal numbers in configuration order
(the ``Control`` socket counts as a listener where it appears) or names for L and S; ``-``
as L names the global services. Without ``-s`` the socket is the ``Control`` path of the
configuration file (``-f``, default ``/etc/pound.cfg``).

poundctl's command line is accepted as is: ``-j`` prints exactly what ``poundctl -j``
prints (Pound's objects and fields, its layout, ``true`` for a change; see
control/poundview.py) and ``-i N`` indents it; ``--json`` prints standby's fuller JSON.
``-t FILE [-T NAME]`` prints through poundctl's templates (control/template.py). ``-v``
says which socket is used. poundctl's remote servers (``-S``, ``-C``, ``-K``, ``-k``) are
refused with a message.

With several workers, a worker that does not answer the supervisor in time makes the
number of requests in flight unknown (``null`` in JSON, ``?`` in the table, never 0):
``drain --wait`` only says drained once every live worker has confirmed it.

Exit status 0 on success, 1 on any error with one line on stderr; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import http
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from standby import __version__
from standby.control import check, poundview, template
from standby.control.api import control_socket
from standby.http1 import BODY_LENGTH, HttpError, parse_response_head

if TYPE_CHECKING:
    from standby.model import ConfigSpec

PROG = "standbyctl"
DEFAULT_CONFIG = "/etc/pound.cfg"  # Pound's standard location, as for `standby -f`
EXIT_OK = 0
EXIT_FAILURE = 1
CLIENT_TIMEOUT = 120.0  # seconds for one request: a reload may resolve host names
MAX_RESPONSE = 16 * 1024 * 1024  # a listing of thousands of backends still fits
DRAIN_POLL_INTERVAL = 0.2  # seconds between in-flight checks while waiting for a drain
LINGER_MARGIN = 0.2  # `keepalive off` waits the servers' linger and this: their timers' lag

Json = dict[str, Any]


class CtlError(Exception):
    """A one-line error for the operator; ``status``: the server's HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CtlError(f"{message} (see {PROG} -h)")


# poundctl options standby does not have: the option and what it is.
UNSUPPORTED_OPTIONS = {
    "remote_server": "-S (a server from ~/.poundctl)",
    "ca_file": "-C (poundctl's HTTPS control connections)",
    "client_cert": "-K (poundctl's HTTPS control connections)",
    "no_verify": "-k (poundctl's HTTPS control connections)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Control a running standby through its socket.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-f", dest="config", metavar="FILE", help="configuration file")
    where.add_argument("-s", dest="socket", metavar="SOCKET", help="control socket path")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the server's JSON")
    output.add_argument(
        "-j", dest="pound_json", action="store_true", help="print poundctl -j's JSON"
    )
    parser.add_argument(
        "-i", dest="indent", metavar="N", type=int, help="with -j: indent N spaces per level"
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="say what is done")
    parser.add_argument(
        "-t", dest="template_file", metavar="FILE", help="print through poundctl templates"
    )
    parser.add_argument(
        "-T",
        dest="template_name",
        metavar="NAME",
        default=template.DEFAULT_TEMPLATE,
        help=f"with -t: the template to run (default: {template.DEFAULT_TEMPLATE})",
    )
    parser.add_argument("-S", dest="remote_server", metavar="SERVER", help=argparse.SUPPRESS)
    parser.add_argument("-C", dest="ca_file", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("-K", dest="client_cert", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("-k", dest="no_verify", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-V", "--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = commands.add_parser("list", help="show listeners, services and backends")
    listing.add_argument("object", nargs="?", metavar="/L/S/B")
    commands.add_parser("core", help="show the process: pid, version, uptime, workers")
    for name, alias, what in (
        ("enable", "on", "enable an object"),
        ("disable", "off", "disable an object"),
    ):
        commands.add_parser(name, aliases=[alias], help=what).add_argument(
            "object", metavar="/L/S/B"
        )
    adding = commands.add_parser("add", help="add (or move) a session to a backend")
    adding.add_argument("object", metavar="/L/S/B")
    adding.add_argument("key", metavar="KEY")
    deleting = commands.add_parser("delete", aliases=["del"], help="delete a session")
    deleting.add_argument("object", metavar="/L/S")
    deleting.add_argument("key", metavar="KEY")
    drain = commands.add_parser("drain", help="drain a backend")
    drain.add_argument("object", metavar="/L/S/B")
    drain.add_argument("--wait", action="store_true", help="return once nothing is in flight")
    drain.add_argument(
        "--timeout", type=float, metavar="T", help="with --wait: give up after T seconds"
    )
    commands.add_parser("reload", help="re-read the configuration")
    commands.add_parser("metrics", help="print the OpenMetrics text")
    _session_commands(commands)  # issue 15
    commands.add_parser(
        "check", help="exit 0 if this standby can serve (for keepalived)"
    ).add_argument("-v", dest="check_verbose", action="store_true", help="say why")
    commands.add_parser("fingerprint", help="a hash of the effective configuration")
    commands.add_parser(
        "keepalive", help="off: close connections after each answer (HA handover); on"
    ).add_argument("state", choices=("on", "off"))
    return parser


# -- objects and the wire -------------------------------------------------------------------


def object_parts(text: str) -> list[str]:
    """``/L/S/B`` (leading slash optional) -> [L, S, B]."""
    parts = text.strip("/").split("/") if text.strip("/") else []
    if not 1 <= len(parts) <= 3 or any(p == "" for p in parts):
        raise CtlError(f"bad object {text!r}: expected /LISTENER[/SERVICE[/BACKEND]]")
    return parts


def object_target(parts: Sequence[str]) -> str:
    """The API path of an object: ``/listener/L/service/S/backend/B``."""
    target = ""
    for word, part in zip(("listener", "service", "backend"), parts, strict=False):
        target += f"/{word}/{quote(part, safe='-')}"
    return target


class Response:
    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body

    def json(self) -> Json:
        try:
            obj = json.loads(self.body)
        except ValueError:
            raise CtlError("the server sent a body that is not JSON") from None
        if not isinstance(obj, dict):
            raise CtlError("the server sent an unexpected JSON value")
        return obj


def request(path: str, method: str, target: str, body: Json | None = None) -> Response:
    """One HTTP/1.1 exchange on the control socket."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    try:
        data = check.exchange(
            path, head.encode("latin-1") + b"\r\n" + payload, CLIENT_TIMEOUT, MAX_RESPONSE
        )
    except check.CheckFailed as exc:
        raise CtlError(str(exc)) from None
    try:
        parsed = parse_response_head(data, method.encode())
    except HttpError as exc:
        raise CtlError(f"bad answer from {path}: {exc.reason}") from None
    if parsed is None:
        raise CtlError(f"incomplete answer from {path}")
    resp, consumed = parsed
    content = bytes(data[consumed:])
    if resp.body == BODY_LENGTH:
        if len(content) < resp.content_length:
            raise CtlError(f"incomplete answer from {path}")
        content = content[: resp.content_length]
    ctype = (resp.header(b"content-type") or b"").decode("latin-1")
    return Response(resp.status, ctype, content)


def checked(resp: Response) -> Response:
    """``resp`` if it is a success; else CtlError with the server's message."""
    if resp.status < 400:
        return resp
    message = ""
    try:
        obj = json.loads(resp.body)
        if isinstance(obj, dict):
            message = str(obj.get("error") or "")
    except ValueError:
        pass
    raise CtlError(message or f"the server answered {resp.status}", resp.status)


# -- the table ------------------------------------------------------------------------------

COLUMNS = ("OBJECT", "TYPE", "NAME/ADDRESS", "STATE", "IN-FLIGHT", "REQUESTS", "LAST TRANSITION")


def render_table(obj: Json, parts: Sequence[str] = ()) -> str:
    """The human form of a listing, a listener, a service or a backend. ``parts`` is the
    object path the user asked for (the labels of rows above the object itself)."""
    rows: list[tuple[str, ...]] = [COLUMNS]
    kind = obj.get("kind")
    if kind == "pound":
        for listener in obj.get("listeners", []):
            _listener_rows(rows, listener)
        for service in obj.get("services", []):
            _service_rows(rows, "/-", service)
    elif kind == "global":
        for service in obj.get("services", []):
            _service_rows(rows, "/-", service)
    elif kind == "listener":
        _listener_rows(rows, obj)
    elif kind == "service":
        _service_rows(rows, "/" + (parts[0] if parts else "?"), obj)
    elif kind == "backend":
        _backend_rows(rows, "/" + "/".join(parts[:2]), obj)
    else:
        raise CtlError(f"cannot show an object of kind {kind!r}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    silent = unanswered_of(obj)
    if silent:
        lines.append(
            f"{UNKNOWN}: unknown, {describe_unanswered(silent)} "
            "(requests as they last reported them)"
        )
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _listener_rows(rows: list[tuple[str, ...]], listener: Json) -> None:
    label = f"/{listener.get('index')}"
    services = listener.get("services", [])
    is_control = any(b.get("type") == "control" for s in services for b in s.get("backends", []))
    name = listener.get("name")
    what = str(listener.get("address", ""))
    if name:
        what = f"{name} {what}"
    state = "enabled" if listener.get("enabled") else "disabled"
    rows.append((label, "control" if is_control else "listener", what, state, "", "", ""))
    if not is_control:
        for service in services:
            _service_rows(rows, label, service)


def _service_rows(rows: list[tuple[str, ...]], prefix: str, service: Json) -> None:
    label = f"{prefix}/{service.get('index')}"
    state = "enabled" if service.get("enabled") else "disabled"
    rows.append((label, "service", str(service.get("name") or "-"), state, "", "", ""))
    for backend in [*service.get("backends", []), *service.get("emergencies", [])]:
        _backend_rows(rows, label, backend)


UNKNOWN = "?"  # the table's in-flight cell when a worker did not answer


def in_flight_cell(backend: Json) -> str:
    """``?`` when the server says the number is unknown (null), else the number."""
    if "in_flight" not in backend:
        return ""
    value = backend["in_flight"]
    return UNKNOWN if value is None else str(value)


def unanswered_of(obj: Json) -> list[int]:
    """Worker pids that did not answer, named anywhere in a listing or one object."""
    found: set[int] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            pids = node.get("unanswered")
            if isinstance(pids, list):
                found.update(p for p in pids if isinstance(p, int))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(obj)
    return sorted(found)


def describe_unanswered(pids: Sequence[int]) -> str:
    workers = ", ".join(f"pid {pid}" for pid in pids)
    return f"worker{'s' if len(pids) > 1 else ''} {workers} did not answer"


def _backend_rows(rows: list[tuple[str, ...]], prefix: str, backend: Json) -> None:
    kind = str(backend.get("type", "backend"))
    if kind == "redirect":
        what = f"{backend.get('code')} {backend.get('url')}"
    else:
        what = str(backend.get("address", "-"))
        if backend.get("emergency"):
            kind = "emergency"
    transition = backend.get("transition") or {}
    when = str(transition.get("time") or "")
    if when:
        when = when[:19] + "Z"  # to the second: the table is for eyes
    last = f"{when} {transition.get('reason', '')}".strip()
    rows.append(
        (
            f"{prefix}/{backend.get('index')}",
            kind,
            what,
            str(backend.get("state", "")),
            in_flight_cell(backend),
            str(backend.get("requests", "")),
            last,
        )
    )


# -- commands -------------------------------------------------------------------------------


def load_file(args: argparse.Namespace) -> tuple[str, ConfigSpec]:
    """The configuration file of ``-f`` (default /etc/pound.cfg), loaded."""
    from standby.config import ConfigError, load_config  # only when a file must be read

    path = args.config or DEFAULT_CONFIG
    try:
        return path, load_config(path)
    except ConfigError as exc:
        raise CtlError(str(exc)) from None
    except OSError as exc:
        raise CtlError(f"{path}: {exc.strerror or exc}") from None


def find_socket(args: argparse.Namespace) -> str:
    if args.socket:
        return str(args.socket)
    path, config = load_file(args)
    socket_path = control_socket(config)
    if socket_path is None:
        raise CtlError(f"{path} has no Control statement; name the socket with -s SOCKET")
    return socket_path


def _print(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _pound(args: argparse.Namespace, value: Any) -> None:
    """poundctl -j's output: its layout, no final newline."""
    sys.stdout.write(poundview.render(value, args.indent))


def _templated(args: argparse.Namespace, value: Any) -> None:
    """poundctl -t FILE [-T NAME]: Pound's object through the user's template."""
    path = str(args.template_file)
    try:
        with open(path, encoding="utf-8") as src:
            templates = template.parse(src.read(), path)
        sys.stdout.write(template.execute(templates, args.template_name, value))
    except OSError as exc:
        raise CtlError(f"{path}: {exc.strerror or exc}") from None
    except template.TemplateError as exc:
        raise CtlError(str(exc)) from None


def cmd_list(sock: str, args: argparse.Namespace) -> int:
    parts = object_parts(args.object) if getattr(args, "object", None) else []
    resp = checked(request(sock, "GET", object_target(parts) or "/"))
    if args.template_file:
        _templated(args, poundview.pound_object(resp.json()))
    elif args.pound_json:
        _pound(args, poundview.pound_object(resp.json()))
    elif args.json:
        _print(resp.body.decode())
    else:
        _print(render_table(resp.json(), parts))
    return EXIT_OK


def cmd_core(sock: str, args: argparse.Namespace) -> int:
    obj = checked(request(sock, "GET", "/core")).json()
    if args.template_file:
        _templated(args, poundview.core(obj))
    elif args.pound_json:
        _pound(args, poundview.core(obj))
    elif args.json:
        _print(json.dumps(obj, indent=2))
    else:
        workers = obj.get("workers") or {}
        _print(
            f"PID: {obj.get('pid')}\nVersion: {obj.get('version')}\n"
            f"Uptime: {obj.get('uptime')} us\nWorkers: {workers.get('count')}"
        )
    return EXIT_OK


def session_target(parts: Sequence[str], key: str) -> str:
    """The API path of a session change: ``/session/L/S[/B]?key=K`` (K percent-encoded)."""
    path = "/session" + "".join(f"/{quote(part, safe='-')}" for part in parts)
    return f"{path}?key={quote(key, safe='')}"


def _session_change(sock: str, args: argparse.Namespace, method: str, size: int) -> int:
    parts = object_parts(args.object)
    if len(parts) != size:
        shape = "/L/S/B" if size == 3 else "/L/S"
        raise CtlError(f"{args.command} needs {shape}, not {args.object!r}")
    obj = checked(request(sock, method, session_target(parts, args.key))).json()
    if args.template_file:
        pass  # poundctl prints nothing for a change through templates
    elif args.pound_json:
        _pound(args, poundview.pound_object(obj))
    elif args.json:
        _print(json.dumps(obj, indent=2))
    return EXIT_OK


def cmd_add(sock: str, args: argparse.Namespace) -> int:
    return _session_change(sock, args, "PUT", 3)


def cmd_delete(sock: str, args: argparse.Namespace) -> int:
    return _session_change(sock, args, "DELETE", 2)


def _change(sock: str, args: argparse.Namespace, method: str, body: Json | None) -> Json:
    parts = object_parts(args.object)
    return checked(request(sock, method, object_target(parts), body)).json()


def cmd_enable(sock: str, args: argparse.Namespace) -> int:
    obj = _change(sock, args, "PUT", None)
    if args.template_file:
        pass  # poundctl prints nothing for a change through templates
    elif args.pound_json:
        _pound(args, True)  # what poundctl -j prints for a change
    else:
        _print(json.dumps(obj, indent=2) if args.json else f"enabled {args.object}")
    return EXIT_OK


def cmd_disable(sock: str, args: argparse.Namespace) -> int:
    obj = _change(sock, args, "DELETE", None)
    if args.template_file:
        pass  # poundctl prints nothing for a change through templates
    elif args.pound_json:
        _pound(args, True)
    else:
        _print(json.dumps(obj, indent=2) if args.json else f"disabled {args.object}")
    return EXIT_OK


def in_flight_of(obj: Json) -> int | None:
    """A backend's requests in flight; None when the server does not know (a worker did
    not answer). A server that predates the field counts as 0, as it always did."""
    value = obj.get("in_flight", 0)
    return None if value is None else int(value)


def cmd_drain(
    sock: str,
    args: argparse.Namespace,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    if len(object_parts(args.object)) != 3:
        raise CtlError(f"drain needs a backend: /L/S/B, not {args.object!r}")
    if args.timeout is not None and not args.wait:
        raise CtlError("--timeout goes with --wait")
    obj = _change(sock, args, "PATCH", {"state": "drain"})
    if args.wait:
        target = object_target(object_parts(args.object))
        deadline = None if args.timeout is None else monotonic() + args.timeout
        # The change's answer was counted as the drain was applied; a request may have
        # started on a worker just before it got the drain. Counts asked for now come after
        # it on every worker's channel: only those can say drained.
        obj = checked(request(sock, "GET", target)).json()
        told = False
        while (in_flight := in_flight_of(obj)) != 0:
            silent = unanswered_of(obj)
            if deadline is not None and monotonic() >= deadline:
                if in_flight is None:
                    raise CtlError(
                        f"{args.object} not known to be drained after {args.timeout:g} s: "
                        f"{describe_unanswered(silent)}, requests in flight unknown"
                    )
                raise CtlError(
                    f"{args.object} still has {in_flight} requests in flight "
                    f"after {args.timeout:g} s"
                )
            if in_flight is None and not told:
                told = True  # once: the operator knows why the wait goes on
                print(
                    f"{PROG}: {args.object}: {describe_unanswered(silent)}; waiting",
                    file=sys.stderr,
                )
            sleep(DRAIN_POLL_INTERVAL)  # polling a socket server: nothing to wait on
            obj = checked(request(sock, "GET", target)).json()
    if args.json:
        _print(json.dumps(obj, indent=2))
    elif args.wait:
        _print(f"drained {args.object}: no request in flight")
    else:
        in_flight = in_flight_of(obj)
        if in_flight is None:
            who = describe_unanswered(unanswered_of(obj))
            _print(f"draining {args.object}: requests in flight unknown ({who})")
        else:
            _print(f"draining {args.object}: {in_flight} requests in flight")
    return EXIT_OK


def cmd_reload(sock: str, args: argparse.Namespace) -> int:
    resp = request(sock, "POST", "/reload")
    obj = checked(resp).json() if resp.status != 422 else resp.json()
    if args.json:
        _print(json.dumps(obj, indent=2))
    if not obj.get("ok"):
        raise CtlError(f"reload rejected: {obj.get('error', 'unknown error')}")
    if not args.json:
        message = obj.get("message")
        _print(f"reloaded: {message}" if message else "reloaded")
    return EXIT_OK


def cmd_metrics(sock: str, args: argparse.Namespace) -> int:
    _print(checked(request(sock, "GET", "/metrics")).body.decode())
    return EXIT_OK


# --- issue 15: sessions (Pound's `add /L/S/B KEY`, `delete /L/S KEY`; `sessions /L/S`) ---


def _session_commands(commands: Any) -> None:
    # `add` and `delete` are poundctl's (cmd_add, cmd_delete); this lists a service's.
    commands.add_parser("sessions", help="list a service's sessions").add_argument(
        "object", metavar="/L/S"
    )


def cmd_session(sock: str, args: argparse.Namespace) -> int:
    parts = object_parts(args.object)
    if len(parts) != 2:
        raise CtlError(f"sessions needs /L/S, not {args.object!r}")
    path = "/session" + "".join(f"/{quote(part, safe='-')}" for part in parts)
    obj = checked(request(sock, "GET", path)).json()
    if args.json:
        _print(json.dumps(obj, indent=2))
        return EXIT_OK
    for session in obj.get("sessions") or []:
        _print(f"{session['key']} {session['backend']} {session['expire']}")
    return EXIT_OK


def cmd_check(sock: str, args: argparse.Namespace) -> int:
    return check.report(sock, args.verbose or args.check_verbose)


def cmd_fingerprint(args: argparse.Namespace) -> int:
    """The effective configuration's hash: needs the file, not the running proxy."""
    from standby.control.fingerprint import fingerprint

    if args.socket:
        raise CtlError("fingerprint reads the configuration: -f FILE, not -s SOCKET")
    _print(fingerprint(load_file(args)[1]))
    return EXIT_OK


def cmd_keepalive(sock: str, args: argparse.Namespace) -> int:
    checked(request(sock, "PUT" if args.state == "on" else "DELETE", "/keepalive"))
    # With workers, the change reached each one on its ordered channel; counters asked for
    # now come after it, so an answer from every worker says every worker applied it.
    obj = checked(request(sock, "GET", "/keepalive")).json()
    silent = (obj.get("workers") or {}).get("unanswered") or []
    if silent:
        raise CtlError(f"keep-alive {args.state}, but {describe_unanswered(silent)}")
    if args.state == "off":
        from standby.control.view import HANDOVER_LINGER

        # Every process closes its idle connections HANDOVER_LINGER after it applied the
        # switch, which it had when it answered above: return once they are closed.
        time.sleep(HANDOVER_LINGER + LINGER_MARGIN)
    if args.json:
        _print(json.dumps(obj, indent=2))
    elif args.state == "off":
        _print("keep-alive off: connections close after their answer; idle ones closed")
    else:
        _print("keep-alive on")
    return EXIT_OK


COMMANDS: dict[str, Callable[[str, argparse.Namespace], int]] = {
    "keepalive": cmd_keepalive,
    "check": cmd_check,
    "list": cmd_list,
    "core": cmd_core,
    "enable": cmd_enable,
    "on": cmd_enable,
    "disable": cmd_disable,
    "off": cmd_disable,
    "add": cmd_add,
    "delete": cmd_delete,
    "del": cmd_delete,
    "drain": cmd_drain,
    "reload": cmd_reload,
    "metrics": cmd_metrics,
    "sessions": cmd_session,
}


POUNDCTL = "poundctl"


def describe_error(exc: CtlError, prog: str) -> str:
    """The error line: as poundctl (the HTTP reason, ``poundctl: Not Found``) when run as
    ``standby-poundctl``, else standbyctl's own message."""
    if prog == POUNDCTL and exc.status is not None:
        with contextlib.suppress(ValueError):
            return f"{prog}: {http.HTTPStatus(exc.status).phrase}"
    return f"{prog}: {exc}"


def poundctl_main(argv: Sequence[str] | None = None) -> int:
    """``standby-poundctl``: standbyctl answering as poundctl (its name in messages)."""
    return main(argv, prog=POUNDCTL)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """The ``standbyctl`` command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(args_list)
        for name, what in UNSUPPORTED_OPTIONS.items():
            if getattr(args, name):
                raise CtlError(f"{what} is not supported")
        if args.indent is not None and not args.pound_json:
            raise CtlError("-i goes with -j")
        if args.command == "fingerprint":
            return cmd_fingerprint(args)
        sock = find_socket(args)
        if args.verbose and args.command != "check":
            print(f"{PROG}: info: using socket {sock}", file=sys.stderr)
        return COMMANDS[args.command or "list"](sock, args)
    except CtlError as exc:
        print(describe_error(exc, prog), file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
    except Exception as exc:  # never a traceback for the operator
        print(f"{PROG}: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
