"""``standbyctl check``: whether this standby can serve, for keepalived's ``track_script``.

keepalived runs the check every second on both proxies of a pair; a proxy whose check fails
gives the floating address away. It can serve when the control socket answers, every
enabled listener accepts a TCP connection, and every enabled service has a usable backend
(alive, enabled, not draining; an Emergency one counts). Exit status 0 or 1, nothing on
the terminal unless ``-v`` (one line: why).

The process starts every second, so it imports as little as it can: ``standbyctl``'s entry
point is ``main`` here, which takes the short command line keepalived uses
(``-s SOCKET check``) with the standard library's ``socket`` and ``json`` only; any other
command line goes to ``ctl.main`` (argparse, the configuration, the HTTP parser...), whose
parser also knows ``check`` (``-f FILE check`` reads the configuration to find the socket:
slower). Deciding (``verdict``) is pure and separate from asking (``run``).
"""

from __future__ import annotations

import json
import socket
import sys

# typing costs 2 ms to import, a tenth of the command: for the type checker only (mypy
# takes any name TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Json = dict[str, Any]

# The control socket's answer: the supervisor asks its workers for their requests in
# flight within 2 s (process/control.COUNTS_TIMEOUT) before it answers; a little more.
CONTROL_TIMEOUT = 2.5
# A listener's connect: on the same machine a listening socket completes the handshake at
# once; one that does not within this time has a full backlog (SYNs dropped, the client's
# retry comes after 1 s): not serving.
CONNECT_TIMEOUT = 0.5
MAX_ANSWER = 16 * 1024 * 1024  # the control listing of thousands of backends fits
EXIT_OK = 0
EXIT_FAILURE = 1
# The addresses a wildcard listener is reached at from the same machine.
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1", "*": "127.0.0.1"}


class CheckFailed(Exception):
    """This standby cannot serve; the message says why (one line)."""


def _usable(backend: Json) -> bool:
    return (
        bool(backend.get("alive")) and bool(backend.get("enabled")) and not backend.get("draining")
    )


def _is_control(listener: Json) -> bool:
    services = listener.get("services") or []
    return any(b.get("type") == "control" for s in services for b in s.get("backends") or [])


def _service_problem(where: str, service: Json) -> str | None:
    backends = [*(service.get("backends") or []), *(service.get("emergencies") or [])]
    if any(_usable(b) for b in backends):
        return None
    name = service.get("name")
    label = f"{where}/{service.get('index')}" + (f" ({name})" if name else "")
    return f"service {label}: none of its {len(backends)} backends is alive, enabled, not draining"


def split_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` (the control API's listener address) -> the host to
    connect to from this machine (a wildcard becomes loopback) and the port."""
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return WILDCARDS.get(host, host), int(port)


def verdict(listing: Json) -> tuple[list[tuple[str, int]], int]:
    """From the control API's full listing: the listener addresses to try, and how many
    services were checked. Raises ``CheckFailed`` when the listing alone says no."""
    addresses: list[tuple[str, int]] = []
    checked = 0
    global_services = listing.get("services") or []
    for listener in listing.get("listeners") or []:
        if _is_control(listener):
            continue
        label = f"/{listener.get('index')}"
        address = str(listener.get("address", ""))
        if not listener.get("enabled", True):
            raise CheckFailed(f"listener {label} {address} is disabled")
        services = listener.get("services") or []
        if not services and not global_services:
            raise CheckFailed(f"listener {label} {address} has no service")
        for service in services:
            if not service.get("enabled", True):
                continue  # it routes nothing: the next service that matches does
            problem = _service_problem(label, service)
            if problem:
                raise CheckFailed(problem)
            checked += 1
        try:
            addresses.append(split_address(address))
        except ValueError:
            raise CheckFailed(f"listener {label}: cannot read its address {address!r}") from None
    for service in global_services:
        if not service.get("enabled", True):
            continue
        problem = _service_problem("/-", service)
        if problem:
            raise CheckFailed(problem)
        checked += 1
    return addresses, checked


def exchange(path: str, message: bytes, timeout: float, limit: int = MAX_ANSWER) -> bytes:
    """Send ``message`` on the control socket ``path`` and read until the server closes
    (it does after its answer: ``Connection: close``); also ``ctl.request``'s wire."""
    data = bytearray()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(message)
            while chunk := sock.recv(65536):
                data += chunk
                if len(data) > limit:
                    raise CheckFailed(f"the answer is larger than {limit} bytes")
    except TimeoutError:
        raise CheckFailed(f"no answer on {path} within {timeout:g} s") from None
    except OSError as exc:
        raise CheckFailed(f"cannot talk to {path}: {exc.strerror or exc}") from None
    return bytes(data)


def ask(path: str) -> Json:
    """``GET /`` on the control socket ``path``: the full listing."""
    request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    head, sep, body = exchange(path, request, CONTROL_TIMEOUT).partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    if not sep or status != [b"200"]:
        raise CheckFailed(f"bad answer from {path}: {head[:60]!r}")
    # The server closes after its answer (Connection: close), so the body is what is left.
    try:
        obj = json.loads(body)
    except ValueError:
        raise CheckFailed(f"the answer from {path} is not JSON") from None
    if not isinstance(obj, dict):
        raise CheckFailed(f"the answer from {path} is not a listing")
    return obj


def connect(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect((host, port))
    except TimeoutError:
        raise CheckFailed(
            f"listener {host}:{port}: no connection within {CONNECT_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        raise CheckFailed(f"listener {host}:{port}: {exc.strerror or exc}") from None


def run(path: str) -> str:
    """Check the standby whose control socket is ``path``: a one-line summary, or
    ``CheckFailed``."""
    addresses, services = verdict(ask(path))
    for host, port in addresses:
        connect(host, port)
    return f"ok: {len(addresses)} listeners accept, {services} services have a usable backend"


def report(path: str, verbose: bool, prog: str = "standbyctl") -> int:
    """Run the check; the exit status, and one line on stderr with ``verbose``."""
    try:
        summary = run(path)
    except CheckFailed as exc:
        if verbose:
            print(f"{prog}: check failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if verbose:
        print(f"{prog}: check {summary}", file=sys.stderr)
    return EXIT_OK


def short_form(argv: list[str]) -> tuple[str, bool] | None:
    """``-s SOCKET [-v] check [-v]`` -> (socket, verbose); None for any other command line
    (``ctl`` then parses it, ``-f FILE`` included: finding the socket needs the
    configuration read)."""
    verbose = False
    path: str | None = None
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        if word == "-v":
            verbose = True
        elif word == "-s" and rest and path is None:
            path = rest.pop(0)
        elif word == "check" and path is not None:
            if all(w == "-v" for w in rest):
                return path, verbose or bool(rest)
            return None
        else:
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    """``standbyctl``'s entry point: the short check here, everything else in ``ctl``."""
    args = sys.argv[1:] if argv is None else argv
    short = short_form(args)
    if short is not None:
        return report(*short)
    from standby.control import ctl

    return ctl.main(args)
