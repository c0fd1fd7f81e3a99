"""The transport a protocol holds before ``connection_made``: kept out of the compiled hot
path, because a class compiled by mypyc may not have a regular Python class such as
asyncio.Transport as its base (see standby/compiled.py)."""

from __future__ import annotations

import asyncio


class _Unconnected(asyncio.Transport):
    """Closing it does nothing; anything else (a write) is a coding error and raises
    NotImplementedError."""

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def is_closing(self) -> bool:
        return True


# Typed as a real transport, so that connected protocols need no None checks per write.
UNCONNECTED: asyncio.Transport = _Unconnected()
