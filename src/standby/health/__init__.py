"""Backend health: the board (single writer, pure) and, in ``standby.health.prober``, the
asyncio task that checks backends (``standby.health.check`` holds the pure part of HTTP
checks). Importing this package stays pure: the prober is
imported explicitly by the shell that runs it."""

from standby.health.board import (
    BackendHealth,
    Cause,
    HealthBoard,
    HealthView,
    State,
    Transition,
)

__all__ = ["BackendHealth", "Cause", "HealthBoard", "HealthView", "State", "Transition"]
