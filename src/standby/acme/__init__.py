"""Automatic HTTPS: a small ACME client (RFC 8555) and Pound's ``ACME "DIR"`` responder.

Pure parts decide (``jws``: signed requests; ``problems``: what an error document means;
``order``: an order's next step as a table; ``schedule``: when to renew, how long to back
off; ``challenge``: which challenge file names are safe). The shell does the I/O:
``store`` (files, blocking), ``session`` (HTTP to the ACME server, blocking, run in a
thread) and ``manager`` (the asyncio task that decides when and reports).
"""
