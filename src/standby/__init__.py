"""standby: a Pound-compatible HTTP reverse proxy, load balancer and failover front end."""

__version__ = "0.1.0"

from standby.compiled import prefer_source, pure_wanted

if pure_wanted():  # STANDBY_PURE=1: the hot path interpreted, from its source (compiled.py)
    prefer_source()
