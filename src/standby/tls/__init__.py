"""TLS for HTTPS listeners.

Pure (no I/O; tests/test_core_purity.py checks): ``pem`` reads and checks a PEM bundle
(key, certificate, chain) with ``cryptography``; ``names`` decides which certificate answers
which server name. The shell: ``context`` builds ``ssl.SSLContext`` objects from a
listener's spec, ``store`` holds the certificates of a listener (swappable, watched),
``peer`` makes the per-connection ``X-SSL-*`` lines.
"""
