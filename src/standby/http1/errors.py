"""The one exception of the HTTP/1.1 core."""

from __future__ import annotations


class HttpError(Exception):
    """A message that must be refused.

    ``status`` is what the client gets (400, 405, 413, 414, 431, 501, 505 for requests; 502
    for a bad backend response); ``reason`` is for the log only and never sent to a client.
    """

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"
