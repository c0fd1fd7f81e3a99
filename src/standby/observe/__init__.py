"""observe: the access log (Pound's LogLevel formats), where logs go, and metrics.

Import the submodules directly: ``access`` and ``metrics`` are pure, ``logsetup`` is not.
"""
