"""A RuntimeView for tests: a configuration plus dictionaries, changed by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

from standby.clock import FAKE_WALL_EPOCH
from standby.config import load_config_text
from standby.control.view import (
    BackendState,
    CoreInfo,
    HealthDetail,
    ObjectPath,
    all_backends,
    services_of,
)
from standby.model import ConfigSpec
from standby.observe.metrics import LatencyHistogram

# The seed's pound.cfg (SEED.md) verbatim, with loopback addresses for the article's LAN.
SEED_CFG = """\
User "pound"
Group "pound"
LogLevel 1
Alive 60
Daemon 1

ListenHTTP
  Address 127.0.0.2          # the proxy's own address
  Port 80
  Service
    HeadRequire "Host: www.nire.com.*"   # the site's domain name
    BackEnd
      Address 127.0.0.3      # production (active) server
      Port 80
    End
    Emergency
      Address 127.0.0.4      # standby (backup) server
      Port 80
    End
  End
End
"""

# More shapes: a named listener, a named service, a redirect, a global service.
RICH_CFG = """\
ListenHTTP "web"
  Address 127.0.0.1
  Port 8080
  Service "site"
    BackEnd
      Address 127.0.0.1
      Port 8081
      Priority 7
    End
    BackEnd
      Address /run/app.sock
    End
    Emergency
      Address 127.0.0.1
      Port 8082
      TimeOut 20
    End
  End
  Service
    URL "^/old"
    Redirect 301 "https://example.com"
  End
End
ListenHTTP
  Address ::1
  Port 8090
End
Service "fallback"
  BackEnd
    Address 127.0.0.1
    Port 8083
  End
End
"""

STARTED = FAKE_WALL_EPOCH
NOW = FAKE_WALL_EPOCH + 3725.5  # 1 h 2 min 5.5 s after start


def load(text: str) -> ConfigSpec:
    return load_config_text(text, "pound.cfg", "/")


def with_control(config: ConfigSpec, path: str, index: int) -> ConfigSpec:
    """``config`` as if it had ``Control "path"`` after ``index`` listeners (the fields the
    config package is adding); a plain object when ConfigSpec lacks them."""
    names = {f.name for f in dataclasses.fields(config)}
    if {"control", "control_index"} <= names:
        return dataclasses.replace(config, control=path, control_index=index)
    return _WithControl(config, path, index)  # type: ignore[return-value]


class _WithControl:
    def __init__(self, config: ConfigSpec, path: str, index: int) -> None:
        self._config = config
        self.control = path
        self.control_index = index

    def __getattr__(self, name: str) -> object:
        return getattr(self._config, name)


def paths(config: ConfigSpec) -> Iterator[ObjectPath]:
    """Every backend path of ``config``."""
    scopes: list[int | None] = [*range(len(config.listeners)), None]
    for listener in scopes:
        for s, service in enumerate(services_of(config, listener)):
            for b in range(len(all_backends(service))):
                yield ObjectPath(listener, s, b)


@dataclass
class FakeView:
    """Implements RuntimeView over plain dictionaries; records every action."""

    cfg: ConfigSpec
    listeners: dict[int, bool] = field(default_factory=dict)
    services: dict[ObjectPath, bool] = field(default_factory=dict)
    states: dict[ObjectPath, BackendState] = field(default_factory=dict)
    actions: list[tuple[str, ObjectPath, bool]] = field(default_factory=list)
    reload_result: tuple[bool, str] = (True, "configuration reloaded")
    reloads: int = 0
    state_reads: int = 0
    silent: tuple[int, ...] = ()  # workers that did not answer (see ``make_silent``)
    known: dict[ObjectPath, int] = field(default_factory=dict)  # in flight while silent

    def __post_init__(self) -> None:
        for path in paths(self.cfg):
            self.states.setdefault(
                path,
                BackendState(
                    alive=True,
                    enabled=True,
                    draining=False,
                    in_flight=0,
                    requests=0,
                    since=STARTED,
                    reason="configured",
                ),
            )

    def config(self) -> ConfigSpec:
        return self.cfg

    def core(self) -> CoreInfo:
        return CoreInfo(
            pid=4242, version="0.1.0", started=STARTED, workers=2, unanswered=self.silent
        )

    def listener_enabled(self, listener: int) -> bool:
        return self.listeners.get(listener, True)

    def service_enabled(self, path: ObjectPath) -> bool:
        return self.services.get(path, True)

    def backend_state(self, path: ObjectPath) -> BackendState:
        self.state_reads += 1
        return self.states[path]

    def set_enabled(self, path: ObjectPath, enabled: bool) -> None:
        self.actions.append(("enabled", path, enabled))
        if path.service is None:
            assert path.listener is not None
            self.listeners[path.listener] = enabled
        elif path.backend is None:
            self.services[path] = enabled
        else:
            self.update(path, enabled=enabled)

    def set_draining(self, path: ObjectPath, draining: bool) -> None:
        self.actions.append(("draining", path, draining))
        self.update(path, draining=draining)

    async def reload(self) -> tuple[bool, str]:
        self.reloads += 1
        return self.reload_result

    def update(self, path: ObjectPath, **changes: object) -> None:
        self.states[path] = dataclasses.replace(self.states[path], **changes)  # type: ignore[arg-type]

    def make_silent(self, *pids: int) -> None:
        """As a supervisor reads when workers ``pids`` did not answer (none: all did)."""
        self.silent = pids
        for path, state in self.states.items():
            if state.in_flight is not None:
                self.known[path] = state.in_flight
            known = self.known.get(path, 0)
            self.update(path, in_flight=None if pids else known, unanswered=pids)


def busy_seed_view() -> FakeView:
    """The seed configuration after some traffic: the primary died once and came back."""
    view = FakeView(load(SEED_CFG))
    latency = LatencyHistogram()
    for seconds in (0.0004, 0.003, 0.003, 0.02, 0.7, 20.0):
        latency.observe(seconds)
    view.update(
        ObjectPath(0, 0, 0),
        in_flight=3,
        requests=1200,
        since=STARTED + 600.25,
        reason="probe connected",
        health=HealthDetail(
            last_check=STARTED + 3700.0, last_result="connected", successes=2, failures=0
        ),
        statuses={200: 1150, 503: 45, 404: 5},
        failovers=45,
        transitions=2,
        latency=latency,
    )
    view.update(
        ObjectPath(0, 0, 1),
        requests=45,
        statuses={200: 45},
        resends=45,
    )
    return view
