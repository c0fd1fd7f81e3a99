"""process: running standby (sockets, daemon, PID file, jail, privileges, signals), in one
process (``Workers 1``) or as a supervisor with N worker processes; ``runner.run`` is the
entry point the CLI calls.
"""

from standby.process.daemon import PidFile, daemonize
from standby.process.listeners import BindError, bind_listener, bind_listeners
from standby.process.privileges import (
    Identity,
    PrivilegeError,
    drop_privileges,
    enter_jail,
    resolve_identity,
)
from standby.process.runner import ProxyFactory, ProxyLike, RunOptions, run

__all__ = [
    "BindError",
    "Identity",
    "PidFile",
    "PrivilegeError",
    "ProxyFactory",
    "ProxyLike",
    "RunOptions",
    "bind_listener",
    "bind_listeners",
    "daemonize",
    "drop_privileges",
    "enter_jail",
    "resolve_identity",
    "run",
]
