"""control: Pound's REST/JSON management interface and the ``standbyctl`` client.

- ``view``: the ``RuntimeView`` protocol the proxy and the supervisor implement (pure).
- ``api``: request -> reply routing, JSON objects, the metrics snapshot (pure).
- ``server``: ``ControlServer``, the UNIX-socket HTTP/1.1 shell.
- ``ctl``: the ``standbyctl`` command.

This package file imports nothing so that the pure modules stay importable without the shell.
"""
