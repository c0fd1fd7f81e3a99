"""``standby -f FILE [-c] [-F|-e] [-p PIDFILE] [--workers N] [-v] [-V] [--demo ...]``:
Pound's options, and the number of worker processes.

Errors are one line on stderr and exit status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, cast

from standby import __version__, compiled
from standby.http1 import speedups_loaded
from standby.model import MAX_WORKERS, ConfigSpec
from standby.process.runner import ProxyFactory, RunOptions, run

DEFAULT_CONFIG = "/etc/pound.cfg"  # where Pound's packages put it; standby reads Pound's file
PROG = "standby"
EXIT_OK = 0
EXIT_FAILURE = 1  # Pound's status for a bad configuration or a bad option
DEMO_FLAG = "--demo"


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
        "--workers",
        dest="workers",
        metavar="N",
        type=worker_option,
        help="worker processes (overrides Workers; default: one per CPU; 1: one process)",
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


def _config_api() -> tuple[Callable[[str], ConfigSpec], type[Exception]]:
    """``standby.config.load_config`` (HTTPS listeners' settings tried on OpenSSL, so
    that ``-c`` catches what it refuses) and ``ConfigError``, looked up at run time."""
    from standby.config import ConfigError, load_config
    from standby.tls.context import check_settings

    return functools.partial(load_config, check_tls=check_settings), ConfigError


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


def _main(argv: list[str]) -> int:
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
    load_config, config_error = _config_api()
    try:
        config = load_config(args.config)
    except config_error as exc:
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
    )
    return run(config, options, _proxy_factory())


def main(argv: Sequence[str] | None = None) -> int:
    """The ``standby`` command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except KeyboardInterrupt:  # Ctrl-C before the event loop took over the signal
        return EXIT_OK
    except Exception as exc:  # never a traceback for the operator; one line instead
        return _error(f"unexpected error: {type(exc).__name__}: {exc}")
