"""Steady load from many keep-alive connections, counting every outcome."""

from __future__ import annotations

import threading
from collections import Counter

from tests.support.harness import Client


class Load:
    """Steady keep-alive load from N client connections, counting every outcome."""

    def __init__(
        self,
        port: int,
        connections: int = 20,
        pace: float = 0.0,
        method: str = "GET",
        body: bytes = b"",
    ) -> None:
        self.port = port
        self.method = method
        self.body = body
        self.pace = pace  # seconds between two requests of one connection (rate control)
        self.connections = connections
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(connections)]

    def run(self) -> None:
        client: Client | None = None
        count = 0
        # Bounded: at most this many requests per connection, and stops when told.
        while not self.stop.is_set() and count < 100_000:
            count += 1
            try:
                if client is None:
                    client = Client(self.port)
                resp = client.request("/", method=self.method, body=self.body)
                key = f"{resp.status} {resp.header(b'x-backend') or resp.body[:40]!r}"
                if resp.header(b"connection") == b"close":
                    client.close()
                    client = None
            except OSError as exc:
                key = f"error {type(exc).__name__}"
                if client is not None:
                    client.close()
                client = None
            with self.lock:
                self.outcomes[key] += 1
            if self.pace:
                self.stop.wait(self.pace)
        if client is not None:
            client.close()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def total(self) -> int:
        with self.lock:
            return sum(self.outcomes.values())

    def count(self, key: str) -> int:
        with self.lock:
            return self.outcomes[key]

    def failures(self, ok: tuple[str, ...]) -> dict[str, int]:
        with self.lock:
            return {k: v for k, v in self.outcomes.items() if k not in ok}
