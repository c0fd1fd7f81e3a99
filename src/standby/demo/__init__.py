"""standby's embedded demo: a primary and a standby demo backend behind standby, on loopback.

``main(argv)`` takes the arguments after ``standby --demo`` (or ``python -m standby.demo``):
none runs the demo in the foreground; ``primary down``, ``primary up``, ``standby status``...
control a running demo's backends from another terminal.
"""

from standby.demo.app import main

__all__ = ["main"]
