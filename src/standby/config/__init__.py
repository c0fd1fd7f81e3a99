"""Pound's configuration language: lexer, schema-driven parser, compiler to model specs.

``load_config``, ``reload_config`` and ``load_config_text`` are the whole public API; they
raise ``ConfigError`` (``str()`` is ``FILE:LINE.COL: message``) for any bad input.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import replace

from standby.clock import SystemClock
from standby.config.compiler import TlsCheck, compile_config
from standby.config.errors import ConfigError, quote
from standby.config.lexer import LineReader, decode, describe_os_error, read_bytes
from standby.config.parser import parse
from standby.model import ConfigSpec, ListenerSpec, LoadOptions, Location, listening

__all__ = ["ConfigError", "LoadOptions", "load_config", "load_config_text", "reload_config"]


def load_config(
    path: str, check_tls: TlsCheck | None = None, options: LoadOptions | None = None
) -> ConfigSpec:
    """Read, parse and compile the configuration file ``path``; ``check_tls`` (the
    shell's ``standby.tls.context.check_settings``) tries each HTTPS listener's
    settings, so that one OpenSSL refuses is a ``ConfigError`` at its keyword.
    ``options``: the command line's ``-W`` choices, kept in the result for reloads."""
    options = options or LoadOptions()
    try:
        data = read_bytes(path)
    except OSError as exc:
        raise ConfigError(
            Location(path, 1, 1), f"cannot read {quote(path)}: {describe_os_error(exc)}"
        ) from None
    directory = os.path.dirname(path) or "."
    reader = LineReader(
        decode(data, path),
        path,
        directory,
        real=os.path.realpath(path),
        include_dir=options.include_dir,
    )
    root = parse(reader, Location(path, 1, 1))
    config = _received(compile_config(root, path, read_bytes, _now(), check_tls, options))
    if options.advise is not None:
        options.advise(config)
    return config


def reload_config(config: ConfigSpec, check_tls: TlsCheck | None = None) -> ConfigSpec:
    """Read ``config``'s file again, the way it was read the first time."""
    return load_config(config.source, check_tls, config.load_options)


def _received(config: ConfigSpec) -> ConfigSpec:
    """Each ``SocketFrom`` listener with the address and port of the socket received for
    it (by the shell's ``options.socket_from``; left unknown without one)."""
    receive = config.load_options.socket_from
    if receive is None or not any(spec.socket_from for spec in listening(config)):
        return config

    def received(spec: ListenerSpec) -> ListenerSpec:
        if spec.socket_from is None:
            return spec
        try:
            address, port = receive(spec.socket_from)
        except OSError as exc:
            raise ConfigError(
                spec.location,
                f"cannot receive a socket from {quote(spec.socket_from)}: {describe_os_error(exc)}",
            ) from None
        return replace(spec, address=address, port=port)

    return replace(
        config,
        listeners=tuple(received(spec) for spec in config.listeners),
        tunnels=tuple(replace(t, listen=received(t.listen)) for t in config.tunnels),
    )


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
