"""Backend health: the board (single writer, pure) and, in ``standby.health.prober``, the
asyncio task that probes dead backends. Importing this package stays pure: the prober is
imported explicitly by the shell that runs it."""

from standby.health.board import (
    BackendHealth,
    HealthBoard,
    HealthView,
    State,
    Transition,
)

__all__ = ["BackendHealth", "HealthBoard", "HealthView", "State", "Transition"]
