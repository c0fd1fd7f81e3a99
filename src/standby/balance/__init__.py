"""Backend selection: priority-weighted random over live backends, then the emergency tier."""

from standby.balance.balancer import Balancer

__all__ = ["Balancer"]
