"""standby: a Pound-compatible HTTP reverse proxy, load balancer and failover front end."""

__version__ = "0.1.0"
