"""The demo's settings: ports (overridable from the environment), runtime directory and the
embedded configuration rewritten for those ports. Pure: no I/O beyond reading arguments."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

# The ports written in demo.cfg; the environment variables below move them.
DEFAULT_LISTEN_PORT = 8080
DEFAULT_PRIMARY_PORT = 8081
DEFAULT_STANDBY_PORT = 8082
ENV_LISTEN_PORT = "STANDBY_DEMO_PORT"
ENV_PRIMARY_PORT = "STANDBY_DEMO_PRIMARY_PORT"
ENV_STANDBY_PORT = "STANDBY_DEMO_STANDBY_PORT"
ENV_RUNDIR = "STANDBY_DEMO_RUNDIR"

# The demo's two backends, in the order they are started.
PRIMARY = "primary"
STANDBY = "standby"
BACKEND_NAMES = (PRIMARY, STANDBY)

# Every demo socket is on loopback: the demo never listens on a public interface.
DEMO_HOST = "127.0.0.1"

MIN_PORT = 1  # port 0 would pick a random port that the configuration could not name
MAX_PORT = 65535

_PORT_LINE = re.compile(r"^(?P<lead>[ \t]*Port[ \t]+)(?P<port>\d+)\b", re.IGNORECASE | re.MULTILINE)


class DemoError(Exception):
    """A setting or state that stops the demo; its message is shown as is."""


@dataclass(frozen=True, slots=True)
class DemoPorts:
    listen: int = DEFAULT_LISTEN_PORT
    primary: int = DEFAULT_PRIMARY_PORT
    standby: int = DEFAULT_STANDBY_PORT

    def backend(self, name: str) -> int:
        if name == PRIMARY:
            return self.primary
        if name == STANDBY:
            return self.standby
        raise DemoError(f"unknown demo backend {name!r} (use {' or '.join(BACKEND_NAMES)})")


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not MIN_PORT <= int(raw) <= MAX_PORT:
        raise DemoError(f"{name}={raw!r} is not a port number ({MIN_PORT}..{MAX_PORT})")
    return int(raw)


def ports_from_env(environ: Mapping[str, str]) -> DemoPorts:
    ports = DemoPorts(
        listen=_port(environ, ENV_LISTEN_PORT, DEFAULT_LISTEN_PORT),
        primary=_port(environ, ENV_PRIMARY_PORT, DEFAULT_PRIMARY_PORT),
        standby=_port(environ, ENV_STANDBY_PORT, DEFAULT_STANDBY_PORT),
    )
    if len({ports.listen, ports.primary, ports.standby}) != 3:
        raise DemoError(
            f"the demo needs three different ports, got {ENV_LISTEN_PORT}={ports.listen}, "
            f"{ENV_PRIMARY_PORT}={ports.primary}, {ENV_STANDBY_PORT}={ports.standby}"
        )
    return ports


def rundir_from_env(environ: Mapping[str, str], tmpdir: str, uid: int, ports: DemoPorts) -> str:
    """Where the demo keeps its rewritten configuration and control sockets. Keyed by user
    and listen port, so two demos on different ports (a test next to a newcomer's demo)
    never share one."""
    explicit = environ.get(ENV_RUNDIR, "").strip()
    if explicit:
        return explicit
    return os.path.join(tmpdir, f"standby-demo-{uid}-{ports.listen}")


def control_path(rundir: str, name: str) -> str:
    """The UNIX socket on which the demo backend ``name`` takes `down`/`up`/`status`."""
    return os.path.join(rundir, f"{name}.sock")


def render_config(template: str, ports: DemoPorts) -> str:
    """demo.cfg with its ports moved: each `Port` line naming one of the default ports gets
    the configured one. Fails if the template lost one of them, so a later edit of demo.cfg
    cannot silently leave a port behind."""
    mapping = {
        DEFAULT_LISTEN_PORT: ports.listen,
        DEFAULT_PRIMARY_PORT: ports.primary,
        DEFAULT_STANDBY_PORT: ports.standby,
    }
    seen: set[int] = set()

    def swap(match: re.Match[str]) -> str:
        port = int(match.group("port"))
        if port not in mapping:
            return match.group(0)
        seen.add(port)
        return f"{match.group('lead')}{mapping[port]}"

    text = _PORT_LINE.sub(swap, template)
    missing = sorted(set(mapping) - seen)
    if missing:
        raise DemoError(f"demo configuration has no Port line for {missing}")
    return text
