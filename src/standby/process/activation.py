"""systemd socket activation: listening sockets passed as descriptors 3, 4, ...

systemd (``standby.socket``) binds the listening sockets and starts standby with them as
descriptors from 3 on, saying so in ``$LISTEN_FDS`` (how many), ``$LISTEN_PID`` (for which
process: a variable meant for a parent is ignored) and ``$LISTEN_FDNAMES`` (their names,
colon-separated). ``take`` keeps them (before Pound's closing of descriptors above 2) and
removes the variables, so that children never see them. ``claim`` gives a listener the
inherited socket bound to its address (compared with ``getsockname``), a copy each time:
with several workers every slot shares that one socket's accept queue, as with
``SocketFrom``. Since systemd holds the sockets too, connections made while standby
restarts wait in their queue instead of being refused.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from standby.model import ListenerSpec

LISTEN_FDS = "LISTEN_FDS"
LISTEN_PID = "LISTEN_PID"
LISTEN_FDNAMES = "LISTEN_FDNAMES"
LISTEN_VARIABLES = (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES)
FIRST_FD = 3  # SD_LISTEN_FDS_START: the first descriptor after stdin, stdout, stderr
# More than any unit needs (one per ListenStream=); a larger count is a mistake, not a
# reason to adopt thousands of descriptors.
MAX_FDS = 1024


class ActivationError(Exception):
    """The passed sockets cannot be used: the message names the descriptor."""


def passed(environ: Mapping[str, str], pid: int) -> list[tuple[int, str]]:
    """The (descriptor, name) pairs systemd passed to process ``pid``; none when the
    variables are absent or meant for another process. Raises ``ActivationError`` for a
    count that is not a number in range."""
    if environ.get(LISTEN_PID, "").strip() != str(pid):
        return []
    text = environ.get(LISTEN_FDS, "").strip()
    try:
        count = int(text)
    except ValueError:
        raise ActivationError(f"{LISTEN_FDS}={text!r} is not a number") from None
    if not 0 <= count <= MAX_FDS:
        raise ActivationError(f"{LISTEN_FDS}={count} is out of range (0 to {MAX_FDS})")
    names = environ.get(LISTEN_FDNAMES, "").split(":")
    pairs: list[tuple[int, str]] = []
    for index in range(count):
        fd = FIRST_FD + index
        name = names[index] if index < len(names) and names[index] else ""
        pairs.append((fd, f"fd {fd} ({name})" if name else f"fd {fd}"))
    return pairs


def same_address(bound: tuple[object, ...], wanted: tuple[object, ...], family: int) -> bool:
    """Whether two socket addresses of ``family`` (``getsockname``/``getaddrinfo`` form)
    are the same host and port, whatever the textual form of the host."""
    try:
        ours = socket.inet_pton(family, str(bound[0]).split("%")[0])
        theirs = socket.inet_pton(family, str(wanted[0]).split("%")[0])
    except (OSError, ValueError):
        return False
    return ours == theirs and bound[1] == wanted[1]


@dataclass(slots=True)
class Inherited:
    """One socket systemd passed."""

    sock: socket.socket
    name: str  # "fd 3 (standby.socket)"
    claimed: bool = field(default=False)

    def describe(self) -> str:
        address = self.sock.getsockname()
        host = f"[{address[0]}]" if self.sock.family == socket.AF_INET6 else address[0]
        return f"{self.name}, bound to {host}:{address[1]}"


_inherited: list[Inherited] = []


def take(environ: MutableMapping[str, str] | None = None) -> list[int]:
    """Keep the sockets systemd passed to this process and remove the variables; returns
    their descriptors (to leave open). Raises ``ActivationError`` naming a descriptor that
    is not a listening TCP socket."""
    env = os.environ if environ is None else environ
    pairs = passed(env, os.getpid())
    for name in LISTEN_VARIABLES:
        env.pop(name, None)
    for fd, name in pairs:
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise ActivationError(f"{name}: not a socket ({exc.strerror})") from None
        if sock.type != socket.SOCK_STREAM or sock.family not in (
            socket.AF_INET,
            socket.AF_INET6,
        ):
            sock.detach()
            raise ActivationError(f"{name}: not a TCP socket (standby listens on TCP only)")
        sock.set_inheritable(False)
        _inherited.append(Inherited(sock, name))
    return [fd for fd, _ in pairs]


def claim(spec: ListenerSpec, sockaddr: tuple[object, ...], family: int) -> socket.socket | None:
    """A copy of the inherited socket bound to ``sockaddr`` (``spec``'s address as
    ``getaddrinfo`` gives it), or None: the listener is bound as usual."""
    if spec.port == 0:
        return None
    for entry in _inherited:
        if entry.sock.family == family and same_address(entry.sock.getsockname(), sockaddr, family):
            entry.claimed = True
            return entry.sock.dup()
    return None


def unclaimed() -> list[str]:
    """The inherited sockets no listener took, described for the error message."""
    return [entry.describe() for entry in _inherited if not entry.claimed]
