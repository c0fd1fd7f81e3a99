"""``standby -f FILE [-c] [-F|-e] [-p PIDFILE] [-W [no-]FEATURE] [--workers N] [-v] [-V]
[--demo ...]``: Pound's options, and the number of worker processes.

``-W`` takes Pound 4's features: ``dns``, ``include-dir=DIR`` / ``no-include-dir``,
``warn-deprecated``, ``close-extra-fds`` (each also as ``no-FEATURE``).

Errors are one line on stderr and exit status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import NoReturn, cast

from standby import __version__, compiled, dns
from standby.http1 import speedups_loaded
from standby.model import MAX_WORKERS, ConfigSpec, LoadOptions
from standby.observe.logsetup import (
    POUND_PREFIX,
    STANDBY_ONLY,
    STDERR_STYLES,
    STYLE_POUND,
    STYLE_STANDBY,
)
from standby.process.runner import ProxyFactory, RunOptions, run

DEFAULT_CONFIG = "/etc/pound.cfg"  # where Pound's packages put it; standby reads Pound's file
PROG = "standby"
EXIT_OK = 0
EXIT_FAILURE = 1  # Pound's status for a bad configuration or a bad option
DEMO_FLAG = "--demo"
log = logging.getLogger("standby.config")


class UsageError(Exception):
    """A bad command line (Pound exits 1 on those, not argparse's 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def worker_option(text: str) -> int:
    """``--workers N``: a whole number from 1 to ``MAX_WORKERS``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_WORKERS}, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class Features:
    """Pound's ``-W`` features after the whole command line (the last word wins)."""

    load: LoadOptions
    close_extra_fds: bool = True  # Pound's default: descriptors above 2 are closed at start


# The features that take no value, and the LoadOptions field each sets (None: not a
# loading option).
_SWITCHES: dict[str, str | None] = {
    "dns": "dns",
    "warn-deprecated": "warn_deprecated",
    "close-extra-fds": None,
}
INCLUDE_DIR = "include-dir"
FIRST_EXTRA_FD = 3  # after stdin, stdout and stderr


def parse_features(words: Sequence[str]) -> Features:
    """The ``-W`` words, in order; raises ``UsageError`` as Pound does for a bad one."""
    include_dir: str | None = None
    switches = {"dns": True, "warn_deprecated": True, "close-extra-fds": True}
    for word in words:
        negated = word.startswith("no-")
        name = word[3:] if negated else word
        if name == INCLUDE_DIR and negated:
            include_dir = ""  # the current directory, as Pound's `no-include-dir`
        elif name.startswith(INCLUDE_DIR + "=") and not negated:
            # Absolute: a reload after the daemon's chdir("/") must find the same place.
            include_dir = os.path.abspath(name[len(INCLUDE_DIR) + 1 :])
            if not os.path.isdir(include_dir):
                reason = (
                    "no such directory" if not os.path.exists(include_dir) else "not a directory"
                )
                raise UsageError(f"include-dir: {include_dir}: {reason}")
        elif name == INCLUDE_DIR:
            raise UsageError("include-dir needs a directory: -W include-dir=DIR")
        elif name in _SWITCHES:
            switches[_SWITCHES[name] or name] = not negated
        else:
            raise UsageError(f"invalid feature name: {word}")
    load = LoadOptions(
        include_dir=include_dir, dns=switches["dns"], warn_deprecated=switches["warn_deprecated"]
    )
    return Features(load, switches["close-extra-fds"])


def close_extra_fds(keep: Sequence[int] = ()) -> None:
    """Close every inherited descriptor above 2, as Pound does at start, except ``keep``
    (the sockets systemd passed)."""
    try:
        limit = os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):
        limit = 1024
    low = FIRST_EXTRA_FD
    for fd in sorted(set(keep)):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, limit)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A Pound-compatible HTTP reverse proxy and failover front end.",
    )
    parser.add_argument(
        "-f",
        dest="config",
        metavar="FILE",
        default=DEFAULT_CONFIG,
        help=f"configuration file (default: {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "-c", dest="check", action="store_true", help="check the configuration and exit"
    )
    parser.add_argument("-F", dest="foreground", action="store_true", help="stay in the foreground")
    parser.add_argument(
        "-e",
        dest="stderr",
        action="store_true",
        help="stay in the foreground and log to stderr (ignores LogFacility)",
    )
    parser.add_argument(
        "-p", dest="pid_file", metavar="PIDFILE", help="PID file (overrides PIDFile)"
    )
    parser.add_argument(
        "-W",
        dest="features",
        metavar="[no-]FEATURE",
        action="append",
        default=[],
        help="enable or disable a feature: dns, include-dir=DIR, warn-deprecated, "
        "close-extra-fds (as Pound 4)",
    )
    parser.add_argument(
        "--workers",
        dest="workers",
        metavar="N",
        type=worker_option,
        help="worker processes (overrides Workers; default: one per CPU; 1: one process)",
    )
    parser.add_argument(
        "--log-style",
        dest="log_style",
        choices=STDERR_STYLES,
        default=STYLE_STANDBY,
        help="how lines on stderr look: standby's (time stamp, pid) or pound's (as Pound 4's "
        "with -e: `pound: MESSAGE`, only notices, warnings, errors and access lines)",
    )
    parser.add_argument(
        "--log-file",
        dest="log_file",
        metavar="FILE",
        help="write diagnostics and access lines to FILE, reopened on SIGUSR1 (overrides "
        "LogFile, -e's stderr and LogFacility)",
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose: more messages")
    parser.add_argument(
        "-V", dest="version", action="store_true", help="print the version and exit"
    )
    parser.add_argument(
        DEMO_FLAG,
        dest="demo",
        action="store_true",
        help="run the built-in demo (two demo backends behind standby on 127.0.0.1)",
    )
    return parser


def _config_api(
    options: LoadOptions | None = None,
) -> tuple[Callable[[str], ConfigSpec], type[Exception]]:
    """``standby.config.load_config`` (HTTPS listeners' settings tried on OpenSSL, so
    that ``-c`` catches what it refuses) reading as ``options`` say, and ``ConfigError``,
    looked up at run time."""
    from standby.config import ConfigError, load_config
    from standby.tls.context import check_settings

    return functools.partial(load_config, check_tls=check_settings, options=options), ConfigError


def _proxy_factory() -> ProxyFactory:
    # Imported here so that -V, -c and --demo do not load the whole server.
    from standby.server.proxy import Proxy

    return Proxy


def _run_demo(argv: list[str]) -> int:
    module = importlib.import_module("standby.demo")
    demo_main = cast(Callable[[list[str]], int], module.main)
    return demo_main(argv)


def _error(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_FAILURE


def load(path: str) -> ConfigSpec:
    """Load ``path``; raises the config package's ``ConfigError`` or ``OSError``."""
    load_config, _ = _config_api()
    return load_config(path)


def _known(user: str | None = None, group: str | None = None) -> bool:
    """Whether ``User`` (or ``Group``) names one on this machine, as the start looks it
    up."""
    from standby.process.privileges import PrivilegeError, resolve_identity

    try:
        resolve_identity(user, group)
    except PrivilegeError:
        return False
    return True


class Advisor:
    """Says config/advice.py's warnings once for each configuration loaded: on stderr
    with ``-c``; otherwise kept at start-up (``started`` hands them to the runner, which
    logs them where the log goes), then logged at each reload."""

    def __init__(self, *, printing: bool) -> None:
        self.printing = printing
        self.pending: list[str] | None = []  # None once the start-up's are handed over

    def __call__(self, config: ConfigSpec) -> None:
        from standby.config.advice import advise

        found = advise(
            config,
            user_exists=lambda name: _known(user=name),
            group_exists=lambda name: _known(group=name),
        )
        lines = [str(advice) for advice in found]
        if self.printing:
            for line in lines:
                print(line, file=sys.stderr)
        elif self.pending is not None:
            self.pending.extend(lines)
        else:
            for line in lines:
                log.warning("%s", line, extra={STANDBY_ONLY: True})

    def started(self) -> tuple[str, ...]:
        lines = tuple(self.pending or ())
        self.pending = None
        return lines


def _main(argv: list[str], *, own_process: bool = False) -> int:
    if DEMO_FLAG in argv:  # everything else on the line belongs to the demo
        rest = [arg for arg in argv if arg != DEMO_FLAG]
        return _run_demo(rest)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(build_parser().format_usage().rstrip(), file=sys.stderr)
        return _error(str(exc))
    if args.version:
        print(f"{PROG} {__version__}")
        print(f"HTTP head parsers: {'C fast path' if speedups_loaded() else 'Python only'}")
        print(f"hot path: {compiled.describe()}")
        return EXIT_OK
    try:
        features = parse_features(args.features)
    except UsageError as exc:
        return _error(str(exc))
    advisor = Advisor(printing=args.check)
    # The pound style is for what reads Pound's output (the `pound` wrapper): Pound gives
    # no such advice, so neither does standby there.
    advise = None if args.log_style == STYLE_POUND else advisor
    load_options = replace(features.load, advise=advise)
    # `-W no-dns`: dynamic backends are never looked up (nor resolv.conf read), in this
    # process and in the workers it forks.
    dns.set_enabled(load_options.dns)
    if not args.check:  # `-c` checks the file: it receives no socket, closes nothing
        from standby.process import activation
        from standby.process.listeners import receive_socket

        try:  # systemd's sockets (LISTEN_FDS) are kept before anything is closed
            activated = activation.take()
        except activation.ActivationError as exc:
            return _error(f"socket activation: {exc}")
        if features.close_extra_fds and own_process:
            close_extra_fds(activated)
        load_options = replace(load_options, socket_from=receive_socket)
    load_config, config_error = _config_api(load_options)
    pound = args.log_style == STYLE_POUND
    if pound:  # the file's warnings as Pound words them, before logging is set up
        _pound_diagnostics()
    try:
        config = load_config(args.config)
    except config_error as exc:
        if pound:
            for line in _pound_lines(exc):
                print(POUND_PREFIX + line, file=sys.stderr)
        else:
            print(str(exc), file=sys.stderr)  # exactly FILE:LINE.COL: message
        return EXIT_FAILURE
    except OSError as exc:  # normally a ConfigError; this is the safety net
        return _error(f"{args.config}: {exc.strerror or exc}")
    if args.check:
        if args.verbose:
            print(f"Config file {args.config} is OK", file=sys.stderr)
        return EXIT_OK
    options = RunOptions(
        foreground=args.foreground or args.stderr,
        log_to_stderr=args.stderr,
        verbose=args.verbose,
        pid_file=args.pid_file,
        workers=args.workers,
        log_style=args.log_style,
        log_file=args.log_file,
        advice=advisor.started(),
    )
    return run(config, options, _proxy_factory(), loader=load_config)


def _pound_diagnostics() -> None:
    """Send the configuration's warnings to stderr in the pound style (Pound's form where
    they carry one) while it loads; the runner sets logging up again to serve."""
    from standby.observe.logsetup import setup_logging

    setup_logging(None, to_stderr=True, verbose=True, style=STYLE_POUND)


def _pound_lines(error: Exception) -> list[str]:
    """A ConfigError as Pound places and words it."""
    from standby.config import ConfigError
    from standby.config.lexer import read_text
    from standby.config.pound_form import render

    assert isinstance(error, ConfigError)
    return render(error.pound_form(), read_text)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``standby`` command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Inherited descriptors are closed only for the command itself: a caller that
        # passes argv (the demo runs standby in its own process) keeps its own.
        return _main(args, own_process=argv is None)
    except KeyboardInterrupt:  # Ctrl-C before the event loop took over the signal
        return EXIT_OK
    except Exception as exc:  # never a traceback for the operator; one line instead
        return _error(f"unexpected error: {type(exc).__name__}: {exc}")
