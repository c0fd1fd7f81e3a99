"""Pound's configuration language: lexer, schema-driven parser, compiler to model specs.

``load_config`` and ``load_config_text`` are the whole public API; both raise
``ConfigError`` (``str()`` is ``FILE:LINE.COL: message``) for any bad input.
"""

from __future__ import annotations

import datetime
import os

from standby.clock import SystemClock
from standby.config.compiler import TlsCheck, compile_config
from standby.config.errors import ConfigError, quote
from standby.config.lexer import LineReader, decode, describe_os_error, read_bytes
from standby.config.parser import parse
from standby.model import ConfigSpec, Location

__all__ = ["ConfigError", "load_config", "load_config_text"]


def load_config(path: str, check_tls: TlsCheck | None = None) -> ConfigSpec:
    """Read, parse and compile the configuration file ``path``; ``check_tls`` (the
    shell's ``standby.tls.context.check_settings``) tries each HTTPS listener's
    settings, so that one OpenSSL refuses is a ``ConfigError`` at its keyword."""
    try:
        data = read_bytes(path)
    except OSError as exc:
        raise ConfigError(
            Location(path, 1, 1), f"cannot read {quote(path)}: {describe_os_error(exc)}"
        ) from None
    directory = os.path.dirname(path) or "."
    reader = LineReader(decode(data, path), path, directory, real=os.path.realpath(path))
    root = parse(reader, Location(path, 1, 1))
    return compile_config(root, path, read_bytes, _now(), check_tls)


def load_config_text(
    text: str,
    filename: str = "<string>",
    base_dir: str | None = None,
    check_tls: TlsCheck | None = None,
) -> ConfigSpec:
    """Parse and compile configuration ``text``; ``filename`` names it in messages and
    relative ``Include``/``ErrorFile`` names are taken from ``base_dir`` (default: the
    current directory)."""
    reader = LineReader(text, filename, "." if base_dir is None else base_dir)
    root = parse(reader, Location(filename, 1, 1))
    return compile_config(root, filename, read_bytes, _now(), check_tls)


def _now() -> datetime.datetime:
    """When certificates must be valid (their expiry is a warning, never an error)."""
    return datetime.datetime.fromtimestamp(SystemClock().wall(), datetime.UTC)
